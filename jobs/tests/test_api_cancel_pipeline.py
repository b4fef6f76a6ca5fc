import json

import pytest
from django.test import Client

from conftest import make_pipeline
from i2v.models import ApiToken
from jobs.models import Pipeline, Step
from jobs.tests.conftest import make_source
from jobs.tests.test_tasks import request


def create(owner):
    return Pipeline.objects.create_from_request(owner, request([make_source(owner)]))


def post(client, pipeline, body=None, **headers):
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return client.post(f"/api/pipelines/{pipeline.id}/cancel", raw or "", content_type="application/json", **headers)


def test_it_cancels_and_answers_the_pipeline_as_get_does(owner_client, owner):
    p = create(owner)
    running = p.steps.order_by("order").first()
    Step.objects.filter(pk=running.pk).update(status="running", attempts=1)

    response = post(owner_client, p)

    assert response.status_code == 200
    assert set(p.steps.values_list("status", flat=True)) == {"cancelled"}
    assert response.json()["status"] == "cancelled"
    assert response.json() == owner_client.get(f"/api/pipelines/{p.id}").json()


def test_it_takes_an_empty_json_object(owner_client, owner):
    assert post(owner_client, create(owner), {}).status_code == 200


def test_it_is_a_409_when_there_is_nothing_to_cancel(owner_client, owner):
    p = create(owner)
    p.cancel()
    response = post(owner_client, p)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict" and "cancelled: there is nothing to cancel" in error["message"]
    completed = make_pipeline(owner, status="completed")
    assert post(owner_client, completed).status_code == 409
    completed.refresh_from_db()
    assert completed.status == "completed"


def test_it_is_a_404_for_someone_elses_pipeline_or_an_unknown_one(client, owner, other):
    p = create(owner)
    client.force_login(other)
    assert post(client, p).json()["error"]["code"] == "not_found"
    assert client.post("/api/pipelines/999999999/cancel").status_code == 404
    p.refresh_from_db()
    assert p.status == "running"
    client.force_login(owner)
    assert post(client, p).status_code == 200, "its owner may"


def test_it_is_a_405_naming_post_for_another_method(owner_client, owner):
    p = create(owner)
    response = owner_client.get(f"/api/pipelines/{p.id}/cancel")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert owner_client.delete(f"/api/pipelines/{p.id}/cancel").status_code == 405


def test_it_is_a_401_without_login(client, owner):
    p = create(owner)
    assert post(client, p).status_code == 401
    p.refresh_from_db()
    assert p.status == "running"


def test_it_accepts_a_bearer_token_without_csrf(owner):
    p = create(owner)
    response = post(Client(enforce_csrf_checks=True), p, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}")
    assert response.status_code == 200


def test_it_refuses_a_session_without_its_csrf_token(owner):
    p = create(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    response = post(strict, p)
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    p.refresh_from_db()
    assert p.status == "running"


@pytest.mark.parametrize(
    "raw, code",
    [("{not json", "invalid_json"), ("[1, 2]", "invalid_json"), ("[" * 100_000 + "]" * 100_000, "too_deep"),
     (b"\x00", "invalid_json"), ('{"a": "\\ud800"}', "invalid_json")],
)  # fmt: skip
def test_it_refuses_a_body_that_is_not_a_json_object(owner_client, owner, raw, code):
    p = create(owner)
    response = post(owner_client, p, raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    p.refresh_from_db()
    assert p.status == "running"


def test_it_cancels_in_a_constant_number_of_queries(owner_client, owner, django_assert_num_queries):
    for prompts in (1, 50):
        p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=[f"p{n}" for n in range(prompts)]))
        # the pipeline; Pipeline.cancel() (a savepoint and its release, the expanding check, the lock, the steps'
        # update, refresh_progress()'s counts, cost and save); then GET's detail (pipeline, summary, steps, outputs)
        with django_assert_num_queries(CANCEL_QUERIES):
            assert post(owner_client, p).status_code == 200


CANCEL_QUERIES = 13
