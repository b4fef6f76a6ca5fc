import json
from decimal import Decimal

import pytest
from django.test import Client

from i2v.models import ApiToken
from jobs.models import Pipeline, Step
from jobs.catalog import bill
from jobs.tests.conftest import FAL_IMAGE, FAL_VIDEO, billed_by_a_retry, failed_before_its_videos, make_source, run_queued
from jobs.tests.test_tasks import I2I, request


def failed(owner, prompts=("a",)):
    """A failed pipeline of one image per prompt, each step failed after its attempts (estimated at $0.50)."""
    p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=prompts, i2i={**I2I, "images_per_prompt": 1}))
    p.steps.update(status="failed", attempts=3, error="busy", cost_estimate=Decimal("0.50"))
    p.refresh_progress()
    return p


def post(client, pipeline, body=None, **headers):
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return client.post(f"/api/pipelines/{pipeline.id}/retry", raw or "", content_type="application/json", **headers)


def statuses(pipeline):
    return list(pipeline.steps.order_by("order").values_list("status", flat=True))


def test_it_retries_the_failed_steps_with_202(owner_client, owner, sent, django_capture_on_commit_callbacks):
    p = failed(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, p)
    assert response.status_code == 202
    assert response.json() == {"id": p.id, "status": "running", "status_url": f"/api/pipelines/{p.id}", "retried": 1}
    assert response["Location"] == f"/api/pipelines/{p.id}"
    step = p.steps.get()
    assert (step.status, step.attempts, step.error) == ("queued", 0, "")
    assert sent == [("dispatch", None)], "the dispatcher sends it"
    assert run_queued(p).status == "completed"


def test_it_retries_steps_whose_outcome_is_unknown(owner_client, owner):
    p = failed(owner, prompts=("a", "b"))
    p.steps.filter(order=0).update(status="unknown")
    assert post(owner_client, p).json()["retried"] == 2
    assert statuses(p) == ["queued", "queued"]


def test_it_is_a_409_when_nothing_is_left_to_retry(owner_client, owner):
    p = failed(owner)
    p.steps.update(status="cancelled")
    p.refresh_progress()
    response = post(owner_client, p)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict", "message": "Nothing to retry: no step of this pipeline failed or was left unknown.", "field": None
    }  # fmt: skip
    assert statuses(p) == ["cancelled"]


def test_it_is_a_422_when_a_retry_could_only_fail(owner_client, owner):
    p = failed(owner)
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = post(owner_client, p)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "refused" and error["message"] == p.retry_refusal()
    assert "deleted from your library" in error["message"]
    assert statuses(p) == ["failed"]


def test_it_is_a_422_when_the_steps_provider_has_no_key(owner_client, owner, settings):
    p = failed(owner)
    Step.objects.filter(pipeline=p).update(config={"model": "replicate-flux-kontext"})
    Pipeline.objects.filter(pk=p.pk).update(config={**p.config, "i2i": {**p.config["i2i"], "model": "replicate-flux-kontext"}})
    settings.REPLICATE_API_TOKEN = ""
    response = post(owner_client, p)
    assert response.status_code == 422 and "REPLICATE_API_TOKEN" in response.json()["error"]["message"]
    assert statuses(p) == ["failed"]


def test_it_retries_above_the_threshold_only_when_confirmed(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0.99"
    p = failed(owner, prompts=("a", "b"))  # 2 x $0.50

    refused = post(owner_client, p)
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "confirmation_required", "field": "confirm_cost",
        "message": 'Retrying may cost up to $1.00: send "confirm_cost": true to go ahead.',
    }  # fmt: skip
    assert post(owner_client, p, {"confirm_cost": False}).status_code == 422
    assert statuses(p) == ["failed", "failed"], "nothing retried, nothing billed"

    assert post(owner_client, p, {"confirm_cost": True}).status_code == 202
    assert statuses(p) == ["queued", "queued"]


def test_it_asks_for_what_the_retried_steps_and_the_videos_they_lead_to_will_be_billed(owner_client, owner, settings, fal):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0"
    p = failed_before_its_videos(owner, fal)
    estimate = bill("flux-kontext", FAL_IMAGE).total + 2 * bill("kling-2.1", FAL_VIDEO).total  # the image, then 2 videos
    assert p.retry_cost() == estimate

    refused = post(owner_client, p)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == f'Retrying may cost up to ${estimate:.2f}: send "confirm_cost": true to go ahead.'
    assert post(owner_client, p, {"confirm_cost": True}).status_code == 202
    assert billed_by_a_retry(p, fal) == estimate, "what was asked is what fal billed"


def test_it_needs_no_confirmation_at_or_below_the_threshold(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "1.00"
    assert post(owner_client, failed(owner, prompts=("a", "b"))).status_code == 202


def test_it_refuses_a_confirmation_that_is_not_true_or_false(owner_client, owner):
    p = failed(owner)
    response = post(owner_client, p, {"confirm_cost": {"a": [1]}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "confirm_cost"
    assert statuses(p) == ["failed"]


def keyed(client, pipeline, key, body=None):
    return post(client, pipeline, body, HTTP_IDEMPOTENCY_KEY=key)


def test_it_retries_once_however_often_a_request_is_sent_with_its_key(owner_client, owner):
    p = failed(owner)
    first = keyed(owner_client, p, "retry-1")
    Step.objects.filter(pipeline=p).update(status="failed")  # failed again since
    again = keyed(owner_client, p, "retry-1")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert statuses(p) == ["failed"], "the replay retried nothing"
    assert keyed(owner_client, p, "retry-2").status_code == 202, "another key is another retry"
    assert statuses(p) == ["queued"]


def test_it_spends_no_key_on_a_refusal(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0"
    p = failed(owner)
    assert keyed(owner_client, p, "k").status_code == 422
    settings.PIPELINE_CONFIRM_ABOVE_USD = "100"
    assert keyed(owner_client, p, "k").status_code == 202, "the key was not stored with the refusal"


def test_it_is_a_404_for_someone_elses_pipeline_or_an_unknown_one(client, owner, other):
    p = failed(owner)
    client.force_login(other)
    assert post(client, p).status_code == 404
    assert post(client, p, {"confirm_cost": True}, HTTP_IDEMPOTENCY_KEY="k").json()["error"]["code"] == "not_found"
    assert client.post("/api/pipelines/999999999/retry").status_code == 404
    assert statuses(p) == ["failed"]
    client.force_login(owner)
    assert post(client, p).status_code == 202, "its owner may"


def test_it_is_a_405_naming_post_for_another_method(owner_client, owner):
    p = failed(owner)
    for response in (owner_client.get(f"/api/pipelines/{p.id}/retry"), owner_client.put(f"/api/pipelines/{p.id}/retry")):
        assert response.status_code == 405 and response["Allow"] == "POST"
    assert statuses(p) == ["failed"]


def test_it_is_a_401_without_login(client, owner):
    p = failed(owner)
    assert post(client, p).status_code == 401
    assert statuses(p) == ["failed"]


def test_it_accepts_a_bearer_token_and_refuses_a_session_without_csrf(owner):
    p = failed(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert post(strict, p).status_code == 403
    assert statuses(p) == ["failed"]
    assert post(Client(enforce_csrf_checks=True), p, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}").status_code == 202


@pytest.mark.parametrize(
    "raw, code",
    [("{not json", "invalid_json"), ("[1, 2]", "invalid_json"), ('"confirm_cost"', "invalid_json"),
     ("[" * 100_000 + "]" * 100_000, "too_deep"), ('{"confirm_cost": ' + "[" * 100 + "]" * 100 + "}", "too_deep"),
     (b"\x00", "invalid_json"), (b'{"confirm_cost": true}\x00', "invalid_json"), ('{"a": "\\udfff"}', "invalid_json")],
)  # fmt: skip
def test_it_refuses_a_body_that_is_not_a_json_object(owner_client, owner, raw, code):
    p = failed(owner)
    response = post(owner_client, p, raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert statuses(p) == ["failed"]
    assert keyed(owner_client, p, "hostile", raw).status_code == 400, "the same with a key"


def test_it_refuses_a_body_over_the_size_limit(owner_client, owner, settings):
    settings.API_JSON_MAX_BYTES = 100
    p = failed(owner)
    assert post(owner_client, p, {"confirm_cost": True, "pad": "x" * 200}).status_code == 413
    assert statuses(p) == ["failed"]


def test_it_retries_in_a_constant_number_of_queries(owner_client, owner, settings, django_assert_num_queries):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "100"
    for prompts in (1, 40):
        p = failed(owner, prompts=[f"p{n}" for n in range(prompts)])
        # the pipeline; any retryable step; retry_refusal() (the steps' models; their sources and whether one is
        # still there); retry_cost(); retry_failed() (a savepoint and its release, the lock, the steps' update,
        # refresh_progress()'s counts, cost and save)
        with django_assert_num_queries(RETRY_QUERIES):
            assert post(owner_client, p).status_code == 202


RETRY_QUERIES = 13
