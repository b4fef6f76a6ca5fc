import json

import pytest
from django.contrib.auth import get_user_model

from conftest import make_asset
from media_processing.models import ProcessingJob
from media_processing.tasks import backfill

from .conftest import broker_down, queue_job


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_user("ops", password="ops-password-1", is_staff=True))
    return client


def post(client, **data):
    response = client.post("/api/library/generate-thumbnails", data)
    return response, json.loads(response.content)


def test_it_starts_a_backfill_in_a_worker(staff_client, owner, broker):
    missing = [make_asset(owner, renditions=False) for _ in range(3)]
    make_asset(owner, renditions=False, kind="video")
    queue_job(missing[0])  # already on its way: not counted

    response, data = post(staff_client)

    assert response.status_code == 202
    assert data == {"count": 3, "mode": "missing", "kind": None}
    [message] = broker.messages("backfill")
    assert message["task"] == "media_processing.tasks.backfill"
    assert message["kwargs"] == {"missing": True, "kind": "", "batch": 500}
    assert not ProcessingJob.objects.filter(queue="backfill").exists(), "the worker queues the jobs, not the request"

    backfill.run(**message["kwargs"])
    assert ProcessingJob.objects.filter(queue="backfill").count() == 5  # 2 images x 2 kinds + 1 poster


def test_it_takes_the_commands_options(staff_client, owner, broker):
    make_asset(owner, kind="video")
    make_asset(owner)

    response, data = post(staff_client, mode="all", kind="video", batch=50)

    assert response.status_code == 202 and data == {"count": 1, "mode": "all", "kind": "video"}
    assert broker.messages("backfill")[0]["kwargs"] == {"missing": False, "kind": "video", "batch": 50}


def test_it_names_a_bad_option(staff_client):
    response, data = post(staff_client, mode="some")
    assert response.status_code == 400 and data["error"]["field"] == "mode"


def test_it_says_when_the_broker_is_down(staff_client, owner):
    make_asset(owner, renditions=False)

    with broker_down():
        response, data = post(staff_client)

    assert response.status_code == 503 and data["error"]["code"] == "broker_unavailable"


def test_it_is_for_staff_only(owner_client, broker):
    response, data = post(owner_client)
    assert response.status_code == 403
    assert broker.messages("backfill") == []


def test_it_refuses_get(staff_client):
    assert staff_client.get("/api/library/generate-thumbnails").status_code == 405
