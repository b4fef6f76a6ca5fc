import json
from decimal import Decimal

from django.test import Client

from i2v.models import ApiToken
from jobs.models import Pipeline, Step
from jobs.remote import RemoteRequest
from jobs.tasks import run_step
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import I2I, request


def cancelled(owner, prompts=("a", "b")):
    """A pipeline of one image per prompt, cancelled once its first step made its image (each estimated at $0.50)."""
    p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=prompts, i2i={**I2I, "images_per_prompt": 1}))
    run_step.run(p.steps.order_by("order").first().pk)
    p.cancel()
    p.steps.update(cost_estimate=Decimal("0.50"))
    p.refresh_from_db()
    return p


def post(client, pipeline, body=None, **headers):
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return client.post(f"/api/pipelines/{pipeline.id}/resume", raw or "", content_type="application/json", **headers)


def statuses(pipeline):
    return list(pipeline.steps.order_by("order").values_list("status", flat=True))


def test_it_resumes_the_cancelled_steps_with_202(owner_client, owner, sent, django_capture_on_commit_callbacks):
    p = cancelled(owner)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, p)
    assert response.status_code == 202
    assert response.json() == {"id": p.id, "status": "running", "status_url": f"/api/pipelines/{p.id}", "resumed": 1}
    assert response["Location"] == f"/api/pipelines/{p.id}"
    assert statuses(p) == ["completed", "queued"], "what was done is kept"
    assert sent == [("dispatch", None)], "the dispatcher sends it"
    assert run_queued(p).status == "completed" and p.outputs.count() == 2


def test_it_is_a_409_when_the_pipeline_is_not_cancelled_or_nothing_is_left(owner_client, owner):
    running = Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=("a",)))
    response = post(owner_client, running)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict", "message": "“Run” is running: only a cancelled pipeline can be resumed.", "field": None
    }  # fmt: skip

    p = cancelled(owner)
    Step.objects.filter(pipeline=p, status="cancelled").update(status="completed")
    response = post(owner_client, p)
    assert response.status_code == 409 and response.json()["error"]["message"] == Pipeline.NOTHING_TO_RESUME


def test_it_is_a_409_while_a_request_is_still_being_stopped_at_the_provider(owner_client, owner):
    p = cancelled(owner)
    step = p.steps.get(status="cancelled")
    RemoteRequest.objects.create(step=step, owner=owner, pipeline=p, provider="fal", model="flux-kontext", token="t", state="queued")
    response = post(owner_client, p)
    assert response.status_code == 409 and response.json()["error"]["message"] == Pipeline.STILL_STOPPING
    assert statuses(p) == ["completed", "cancelled"]


def test_it_is_a_422_when_a_resume_could_only_fail(owner_client, owner):
    p = cancelled(owner)
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = post(owner_client, p)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "refused" and error["message"] == p.resume_refusal()
    assert "deleted from your library" in error["message"]
    assert statuses(p) == ["completed", "cancelled"]


def test_it_resumes_above_the_threshold_only_when_confirmed(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0.99"
    p = cancelled(owner, prompts=("a", "b", "c"))  # 2 x $0.50 to send again

    refused = post(owner_client, p)
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "confirmation_required", "field": "confirm_cost",
        "message": 'Resuming may cost up to $1.00: send "confirm_cost": true to go ahead.',
    }  # fmt: skip
    assert post(owner_client, p, {"confirm_cost": False}).status_code == 422
    assert statuses(p) == ["completed", "cancelled", "cancelled"], "nothing resumed, nothing billed"

    assert post(owner_client, p, {"confirm_cost": True}).status_code == 202
    assert statuses(p) == ["completed", "queued", "queued"]


def test_it_is_a_429_past_the_steps_in_flight_quota(owner_client, owner, settings):
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 1
    p = cancelled(owner, prompts=("a", "b", "c"))
    response = post(owner_client, p, HTTP_IDEMPOTENCY_KEY="q")
    assert response.status_code == 429 and response.json()["error"]["code"] == "too_many_steps"
    assert statuses(p) == ["completed", "cancelled", "cancelled"]
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 10
    assert post(owner_client, p, HTTP_IDEMPOTENCY_KEY="q").status_code == 202, "the key was not stored with the refusal"


def keyed(client, pipeline, key, body=None):
    return post(client, pipeline, body, HTTP_IDEMPOTENCY_KEY=key)


def test_it_resumes_once_however_often_a_request_is_sent_with_its_key(owner_client, owner):
    p = cancelled(owner)
    first = keyed(owner_client, p, "resume-1")
    p.cancel()  # cancelled again since
    again = keyed(owner_client, p, "resume-1")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert statuses(p) == ["completed", "cancelled"], "the replay resumed nothing"
    assert keyed(owner_client, p, "resume-2").status_code == 202, "another key is another resume"
    assert statuses(p) == ["completed", "queued"]


def test_it_is_a_404_for_someone_elses_pipeline_or_an_unknown_one(client, owner, other):
    p = cancelled(owner)
    client.force_login(other)
    assert post(client, p).status_code == 404
    assert client.post("/api/pipelines/999999999/resume").status_code == 404
    assert statuses(p) == ["completed", "cancelled"]
    client.force_login(owner)
    assert post(client, p).status_code == 202, "its owner may"


def test_it_is_a_405_naming_post_for_another_method_and_a_401_without_login(client, owner):
    p = cancelled(owner)
    assert post(client, p).status_code == 401
    client.force_login(owner)
    response = client.get(f"/api/pipelines/{p.id}/resume")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert statuses(p) == ["completed", "cancelled"]


def test_it_accepts_a_bearer_token_and_refuses_a_session_without_csrf(owner):
    p = cancelled(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert post(strict, p).status_code == 403
    assert post(Client(enforce_csrf_checks=True), p, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}").status_code == 202


def test_it_refuses_a_body_that_is_not_a_json_object(owner_client, owner):
    p = cancelled(owner)
    for raw in ("{not json", "[1, 2]", b'{"confirm_cost": true}\x00'):
        response = post(owner_client, p, raw)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    response = post(owner_client, p, {"confirm_cost": {"a": [1]}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "confirm_cost"
    assert statuses(p) == ["completed", "cancelled"]


def test_it_resumes_in_a_constant_number_of_queries(owner_client, owner, settings, django_assert_num_queries):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "100"
    for prompts in (2, 40):
        p = cancelled(owner, prompts=[f"p{n}" for n in range(prompts)])
        # the pipeline; resume_conflict() (any cancelled step; the first of its plan's three); resume_refusal()
        # (the cancelled steps' sources and whether one is still there; unrunnable() none: the stages name their
        # models); resume_cost(); the quota (the steps to resume, those in flight, those planned unmade); resume()
        # (a savepoint and its release, the lock, the updates to fetch and to submit (none to review),
        # refresh_progress()'s counts, cost and save)
        with django_assert_num_queries(RESUME_QUERIES, info="resuming must not touch the steps one by one"):
            assert post(owner_client, p).status_code == 202


RESUME_QUERIES = 17
