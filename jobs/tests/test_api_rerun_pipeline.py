import json

import pytest
from django.test import Client

from conftest import make_pipeline
from i2v.models import ApiToken
from jobs.models import Pipeline
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import I2I, request

PAID = {**I2I, "model": "flux-kontext", "images_per_prompt": 1}


def create(owner, **kwargs):
    """A pipeline of two image steps (one per prompt), run to the end."""
    kwargs.setdefault("i2i", {**I2I, "images_per_prompt": 1})
    return run_queued(Pipeline.objects.create_from_request(owner, request([make_source(owner)], **kwargs)))


def post(client, pipeline, body=None, **headers):
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return client.post(f"/api/pipelines/{pipeline.id}/rerun", raw or "", content_type="application/json", **headers)


def reruns(owner, pipeline):
    return owner.pipelines.exclude(pk=pipeline.pk)


def test_it_reruns_as_a_new_pipeline_with_202_and_its_status_url(owner_client, owner, sent, django_capture_on_commit_callbacks):
    p = create(owner, tags=["keep"], i2i={**I2I, "images_per_prompt": 1, "seed": 77})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, p)
    assert response.status_code == 202
    again = reruns(owner, p).get()
    assert response.json() == {"id": again.id, "status": "running", "status_url": f"/api/pipelines/{again.id}"}
    assert response["Location"] == f"/api/pipelines/{again.id}"
    assert (again.name, again.config, again.mode) == (p.name, p.config, p.mode)
    assert [t.name for t in again.tags.all()] == ["keep"]
    assert again.steps.count() == 2 and p.steps.count() == 2
    assert [s.config["seed"] for s in again.steps.all()] == [s.config["seed"] for s in p.steps.all()] == [77, 77]  # its settings
    assert ("dispatch", None) in sent


def test_it_is_a_422_for_a_pipeline_without_recorded_settings(owner_client, owner):
    legacy = make_pipeline(owner, status="completed")
    response = post(owner_client, legacy)
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "refused", "message": "This pipeline has no recorded settings to rerun.", "field": None}
    assert owner.pipelines.count() == 1


def test_it_is_a_422_when_a_source_was_deleted(owner_client, owner):
    p = create(owner)
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = post(owner_client, p)
    assert response.status_code == 422 and response.json()["error"]["message"] == p.rerun_refusal()
    assert "1 of its 1 sources was deleted" in response.json()["error"]["message"]
    assert owner.pipelines.count() == 1


def test_it_is_a_422_when_a_stage_s_provider_has_no_key(owner_client, owner, settings, provider_keys):
    p = create(owner, i2i=PAID)
    settings.FAL_KEY = ""
    response = post(owner_client, p, {"confirm_cost": True})
    assert response.status_code == 422 and "FAL_KEY" in response.json()["error"]["message"]
    assert owner.pipelines.count() == 1


def test_it_reruns_above_the_threshold_only_when_confirmed(owner_client, owner, settings, provider_keys):
    p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], i2i=PAID))
    cost = Pipeline.estimate(p.config)
    settings.PIPELINE_CONFIRM_ABOVE_USD = str(cost - 1 if cost > 1 else 0)
    assert cost > 0

    refused = post(owner_client, p)
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "confirmation_required", "field": "confirm_cost",
        "message": f'This rerun may cost up to ${cost:.2f}: send "confirm_cost": true to go ahead.',
    }  # fmt: skip
    assert post(owner_client, p, {"confirm_cost": False}).status_code == 422
    assert not reruns(owner, p).exists(), "nothing made, nothing billed"

    assert post(owner_client, p, {"confirm_cost": True}).status_code == 202
    assert reruns(owner, p).count() == 1


def test_it_needs_no_confirmation_at_or_below_the_threshold(owner_client, owner, settings, provider_keys):
    p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], i2i=PAID))
    settings.PIPELINE_CONFIRM_ABOVE_USD = str(Pipeline.estimate(p.config))
    assert post(owner_client, p).status_code == 202


def test_it_refuses_more_steps_in_flight_than_the_quota_with_a_429(owner_client, owner, settings):
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 3
    p = Pipeline.objects.create_from_request(owner, request([make_source(owner)], i2i={**I2I, "images_per_prompt": 1}))  # 2 queued
    response = post(owner_client, p)
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert response.json()["error"]["code"] == "too_many_steps" and "this would add 2" in response.json()["error"]["message"]
    assert not reruns(owner, p).exists()


def test_it_counts_against_the_pipeline_creation_limit(owner_client, owner, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pipelines": "1/3600"}
    p = create(owner)
    assert post(owner_client, p).status_code == 202
    response = post(owner_client, p)
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert owner_client.post("/api/pipelines", "{}", content_type="application/json").status_code == 429, "one limit for both"
    assert reruns(owner, p).count() == 1


def keyed(client, pipeline, key, body=None):
    return post(client, pipeline, body, HTTP_IDEMPOTENCY_KEY=key)


def test_it_reruns_once_however_often_a_request_is_sent_with_its_key(owner_client, owner):
    p = create(owner)
    first = keyed(owner_client, p, "rerun-1")
    again = keyed(owner_client, p, "rerun-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert reruns(owner, p).count() == 1, "the replay paid for nothing"
    assert keyed(owner_client, p, "rerun-2").status_code == 202
    assert reruns(owner, p).count() == 2, "another key is another rerun"


def test_it_refuses_a_key_reused_for_another_pipeline(owner_client, owner):
    p, q = create(owner), create(owner)
    keyed(owner_client, p, "k")
    response = keyed(owner_client, q, "k")
    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"
    assert owner.pipelines.count() == 3


def test_it_is_a_404_for_someone_elses_pipeline_or_an_unknown_one(client, owner, other):
    p = create(owner)
    client.force_login(other)
    assert post(client, p).json()["error"]["code"] == "not_found"
    assert client.post("/api/pipelines/999999999/rerun").status_code == 404
    assert owner.pipelines.count() == 1 and not other.pipelines.exists()
    client.force_login(owner)
    assert post(client, p).status_code == 202, "its owner may"


def test_it_is_a_405_naming_post_for_another_method(owner_client, owner):
    p = create(owner)
    for response in (owner_client.get(f"/api/pipelines/{p.id}/rerun"), owner_client.delete(f"/api/pipelines/{p.id}/rerun")):
        assert response.status_code == 405 and response["Allow"] == "POST"
    assert owner.pipelines.count() == 1


def test_it_is_a_401_without_login(client, owner):
    p = create(owner)
    assert post(client, p).status_code == 401
    assert owner.pipelines.count() == 1


def test_it_accepts_a_bearer_token_and_refuses_a_session_without_csrf(owner):
    p = create(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert post(strict, p).status_code == 403
    assert owner.pipelines.count() == 1
    assert post(Client(enforce_csrf_checks=True), p, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}").status_code == 202


@pytest.mark.parametrize(
    "raw, code",
    [("{not json", "invalid_json"), ("[1, 2]", "invalid_json"), ("null", "invalid_json"),
     ("[" * 100_000 + "]" * 100_000, "too_deep"), ('{"confirm_cost": ' + "[" * 100 + "]" * 100 + "}", "too_deep"),
     (b"\x00", "invalid_json"), (b"\xff\xfe", "invalid_json"), ('{"\\ud800": true}', "invalid_json")],
)  # fmt: skip
def test_it_refuses_a_body_that_is_not_a_json_object(owner_client, owner, raw, code):
    p = create(owner)
    response = post(owner_client, p, raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert keyed(owner_client, p, "hostile", raw).status_code == 400, "the same with a key"
    assert owner.pipelines.count() == 1


def test_it_reruns_in_a_constant_number_of_queries(owner_client, owner, django_assert_num_queries):
    for prompts in (1, 30):  # 30 steps: one insert on SQLite too (its 999 parameters)
        config = request([make_source(owner)], prompts=[f"p{n}" for n in range(prompts)], i2i={**I2I, "images_per_prompt": 1})
        p = Pipeline.objects.create_from_request(owner, config)
        p.cancel()  # its steps out of the quota's count
        # the pipeline; rerun_refusal()'s sources; check_quota()'s steps in flight and planned; rerun_request()'s
        # tags; create_from_request() (a savepoint and its release, the pipeline, its steps' count and one bulk
        # insert, refresh_progress()'s counts, cost and save): the same for 1 step as for 30
        with django_assert_num_queries(RERUN_QUERIES):
            assert post(owner_client, p).status_code == 202


RERUN_QUERIES = 13
