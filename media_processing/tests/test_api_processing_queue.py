import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conftest import make_asset
from media_processing.models import QueueState

from .conftest import queue_job


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_user("ops", password="ops-password-1", is_staff=True))
    return client


def get(client):
    response = client.get("/api/admin/processing-queue")
    return response, json.loads(response.content)


def test_it_reports_the_queue(staff_client, owner):
    queue_job(make_asset(owner), created_at=timezone.now() - timedelta(minutes=5))
    queue_job(make_asset(owner), kind="variants", queue="variants")
    queue_job(make_asset(owner), queue="backfill")
    queue_job(make_asset(owner), status="processing", attempts=1)
    failed = queue_job(make_asset(owner), kind="poster", status="failed", attempts=3, error="The video has no video stream.", failed_at=timezone.now())
    queue_job(make_asset(owner), status="completed", attempts=1)
    QueueState.objects.create(queue="backfill", consecutive_failures=10, paused_until=timezone.now() + timedelta(minutes=5))

    response, data = get(staff_client)

    assert response.status_code == 200
    assert (data["queue_size"], data["processing_count"], data["failed_count"]) == (3, 1, 1)
    assert data["oldest_job_age_seconds"] == pytest.approx(300, abs=5)
    assert data["by_kind"] == {
        "thumbnails": {"queued": 2, "processing": 1, "failed": 0},
        "variants": {"queued": 1, "processing": 0, "failed": 0},
        "poster": {"queued": 0, "processing": 0, "failed": 1},
        "fetch": {"queued": 0, "processing": 0, "failed": 0},  # remote originals imported from i2v
    }
    assert {q: (c["queued"], c["processing"], c["failed"], c["paused"]) for q, c in data["by_queue"].items()} == {
        "thumbnails": (1, 1, 1, False), "variants": (1, 0, 0, False), "backfill": (1, 0, 0, True),
    }  # fmt: skip
    assert data["paused_queues"] == ["backfill"] and data["by_queue"]["backfill"]["consecutive_failures"] == 10
    [failure] = data["recent_failures"]
    assert (failure["id"], failure["asset_id"], failure["error"]) == (failed.pk, failed.asset_id, "The video has no video stream.")


def test_it_reports_an_empty_queue(staff_client):
    _, data = get(staff_client)
    assert (data["queue_size"], data["oldest_job_age_seconds"], data["recent_failures"]) == (0, None, [])


def test_it_is_for_staff_only(owner_client):
    response, data = get(owner_client)
    assert response.status_code == 403 and data["error"]["code"] == "forbidden"


def test_it_answers_401_without_login(client, db):
    assert get(client)[0].status_code == 401
