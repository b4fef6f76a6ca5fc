import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from i2v.models import IdempotencyKey
from jobs.models import Pipeline
from jobs.tests.conftest import make_source


def body(assets, **overrides):
    data = {
        "name": "API run", "tags": ["batch-1"], "sources": [a.pk for a in assets], "prompts": ["a fox", "an owl"],
        "i2i_enabled": True, "i2i_model": "local-i2i", "images_per_prompt": 1,
        "i2v_enabled": True, "i2v_model": "local-i2v", "duration": 2, "mode": "checkpoint",
    }  # fmt: skip
    data.update(overrides)
    return data


def post(client, data):
    raw = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return client.post("/api/pipelines", raw, content_type="application/json")


def test_it_accepts_a_pipeline_with_202_and_its_status_url(owner_client, owner, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, body([make_source(owner)]))
    assert response.status_code == 202
    p = owner.pipelines.get()
    assert response.json() == {"id": p.id, "status": "running", "status_url": f"/api/pipelines/{p.id}"}
    assert response["Location"] == f"/api/pipelines/{p.id}"
    assert (p.mode, p.planned_steps, p.config["i2v"]["duration"], p.config["prompts"]) == ("checkpoint", 4, 2, ["a fox", "an owl"])
    assert sent == [("dispatch", None)], "one message wakes the dispatcher, whatever the size"
    detail = owner_client.get(f"/api/pipelines/{p.id}").json()
    assert [s["status"] for s in detail["steps"]] == ["queued", "queued"]
    assert detail["progress"] == {"done": 0, "planned": 4, "activity": "2 queued"}


@pytest.mark.parametrize("seed", [5, "5"])
def test_it_runs_with_the_seed_sent(owner_client, owner, seed):
    assert post(owner_client, body([make_source(owner)], seed=seed)).status_code == 202
    p = owner.pipelines.get()
    assert p.config["i2i"]["seed"] == p.config["i2v"]["seed"] == 5
    assert [s.config["seed"] for s in p.steps.all()] == [5, 5]  # one image per prompt: each the first


def test_it_draws_a_seed_where_none_is_sent(owner_client, owner):
    source = make_source(owner)
    for seed in ({}, {"seed": None}):
        assert post(owner_client, body([source], **seed)).status_code == 202
    assert len({p.config["i2i"]["seed"] for p in owner.pipelines.all()}) == 2


def test_it_accepts_comma_separated_sources(owner_client, owner):
    a, b = make_source(owner), make_source(owner)
    assert post(owner_client, body([], sources=f"{a.pk},{b.pk}")).status_code == 202
    assert owner.pipelines.get().config["sources"] == [a.pk, b.pk]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"prompts": []}, "prompts"),
        ({"sources": []}, "sources"),
        ({"i2i_model": "nope"}, "i2i_model"),
        ({"videos_per_image": 5}, "videos_per_image"),
        ({"i2i_enabled": False, "i2v_enabled": False}, "i2i_enabled"),
        ({"prompts": [f"p{i}" for i in range(400)], "images_per_prompt": 4}, "prompts"),
    ],
)
def test_it_names_the_field_of_a_bad_value(owner_client, owner, overrides, field):
    response = post(owner_client, body([make_source(owner)], **overrides))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert not owner.pipelines.exists()


def test_it_refuses_an_id_no_column_can_hold(owner_client, owner):
    response = post(owner_client, body([], sources=[2**70]))
    assert response.status_code == 422 and response.json()["error"]["field"] == "sources"
    assert owner_client.get(f"/pipelines/new?assets={2**70},²,-1").status_code == 200


def test_it_refuses_someone_elses_asset(owner_client, other):
    response = post(owner_client, body([make_source(other)]))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "sources"


def test_it_refuses_a_model_whose_provider_has_no_key(owner_client, owner, settings):
    settings.REPLICATE_API_TOKEN = ""
    response = post(owner_client, body([make_source(owner)], i2i_model="replicate-flux-kontext"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "i2i_model" and "set the REPLICATE_API_TOKEN environment variable" in error["message"]
    assert not owner.pipelines.exists()


def test_it_requires_confirmation_above_the_threshold(owner_client, owner, settings, provider_keys):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0"
    data = body([make_source(owner)], i2i_model="flux-kontext")
    assert post(owner_client, data).json()["error"]["field"] == "confirm_cost"
    assert post(owner_client, {**data, "confirm_cost": True}).status_code == 202


@pytest.mark.parametrize("said", ["no", "0", "false", "nope", 2, [True], "\x00"])
def test_it_takes_nothing_but_true_for_a_confirmation(owner_client, owner, settings, provider_keys, said):
    # Django's BooleanField reads "no", "0" and a list as true: each confirmed a spend.
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0"
    response = post(owner_client, {**body([make_source(owner)], i2i_model="flux-kontext"), "confirm_cost": said})
    assert response.status_code == 422 and response.json()["error"]["field"] == "confirm_cost"
    assert not owner.pipelines.exists()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", b"\xff\xfe"])
def test_it_is_a_400_for_a_body_that_is_not_a_json_object(owner_client, raw):
    response = post(owner_client, raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_it_is_a_401_without_login(client):
    assert post(client, {}).status_code == 401


def test_it_still_lists_with_get(owner_client):
    assert owner_client.get("/api/pipelines").status_code == 200


def idempotent_post(client, data, key):
    return client.post("/api/pipelines", json.dumps(data), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def test_it_creates_one_pipeline_however_often_a_request_is_retried_with_its_key(owner_client, owner):
    data = body([make_source(owner)])

    first = idempotent_post(owner_client, data, "run-2026-11-30-a")
    again = idempotent_post(owner_client, data, "run-2026-11-30-a")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert owner.pipelines.count() == 1, "the retry paid for nothing"
    assert idempotent_post(owner_client, data, "run-2026-11-30-b").status_code == 202
    assert owner.pipelines.count() == 2, "another key is another pipeline"


def test_it_knows_a_retry_whose_json_is_written_another_way(owner_client, owner):
    data = body([make_source(owner)])
    first = idempotent_post(owner_client, data, "k-spaced")
    respaced = json.dumps(data, indent=2, sort_keys=True)
    again = owner_client.post("/api/pipelines", respaced, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-spaced")
    assert again.status_code == 202 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert owner.pipelines.count() == 1


def test_it_replays_a_key_stored_from_the_body_as_sent(owner_client, owner):
    # Keys stored before bodies were compared as JSON hold the hash of the bytes sent: a retry still matches.
    data = body([make_source(owner)])
    first = idempotent_post(owner_client, data, "k-old")
    as_sent = hashlib.sha256(b"/api/pipelines\0" + json.dumps(data).encode()).hexdigest()
    IdempotencyKey.objects.filter(key="k-old").update(fingerprint=as_sent)
    again = idempotent_post(owner_client, data, "k-old")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert owner.pipelines.count() == 1


def test_it_refuses_a_key_reused_for_another_request(owner_client, owner):
    source = make_source(owner)
    idempotent_post(owner_client, body([source]), "k1")

    response = idempotent_post(owner_client, body([source], prompts=["something else"]), "k1")

    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"
    assert owner.pipelines.count() == 1


def test_it_keeps_keys_per_user(owner_client, owner, other, client):
    idempotent_post(owner_client, body([make_source(owner)]), "shared-key")
    client.force_login(other)

    assert idempotent_post(client, body([make_source(other)]), "shared-key").status_code == 202
    assert other.pipelines.count() == 1


def test_it_stores_no_answer_for_a_refused_request(owner_client, owner):
    source = make_source(owner)
    assert idempotent_post(owner_client, body([source], prompts=[]), "k2").status_code == 422
    assert idempotent_post(owner_client, body([source]), "k2").status_code == 202, "the key was not spent on a refusal"


def test_it_refuses_a_bad_key(owner_client, owner):
    response = idempotent_post(owner_client, body([make_source(owner)]), "x" * 201)
    assert response.status_code == 400 and response.json()["error"]["field"] == "Idempotency-Key"


def test_it_accepts_the_largest_pipeline_in_a_constant_number_of_queries(owner_client, owner, django_assert_max_num_queries, sent):
    """4 sources x 500 prompts = 2,000 steps: accepted with one dispatch message and
    no step made in the request; the dispatcher makes them with one bulk insert."""
    sources = [make_source(owner) for _ in range(4)]
    prompts = [f"prompt number {n}" for n in range(500)]
    data = body(sources, prompts=prompts, i2v_enabled=False, mode="auto")

    with django_assert_max_num_queries(20):
        response = post(owner_client, data)

    assert response.status_code == 202
    pipeline = owner.pipelines.get()
    assert (pipeline.steps.count(), pipeline.planned_steps, pipeline.expanding) == (0, 2000, True)
    assert owner_client.get(f"/api/pipelines/{pipeline.id}").json()["progress"] == {
        "done": 0, "planned": 2000, "activity": "making 2,000 steps"
    }  # fmt: skip
    with CaptureQueriesContext(connection) as expanding:
        assert Pipeline.objects.expand_due() == 1
    inserts = [q for q in expanding.captured_queries if q["sql"].startswith('INSERT INTO "jobs_step"')]
    assert len(expanding.captured_queries) - len(inserts) <= 10
    assert len(inserts) <= (2 if connection.vendor == "postgresql" else 60), "batches of 1,000 rows (SQLite: of its 999 parameters)"
    assert pipeline.steps.filter(status="queued").count() == 2000


def test_it_refuses_more_steps_in_flight_than_the_quota_with_a_429(owner_client, owner, settings):
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 5
    source = make_source(owner)
    assert post(owner_client, body([source], i2v_enabled=False)).status_code == 202  # 2 steps

    response = post(owner_client, body([source], prompts=["a", "b", "c", "d"], i2v_enabled=False))

    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert response.json()["error"]["code"] == "too_many_steps" and "at most 5" in response.json()["error"]["message"]
    assert owner.pipelines.count() == 1


def test_it_limits_how_fast_one_user_creates_pipelines(owner_client, owner, other, settings):
    # An hour's window: a minute's fixed window may end between the requests of a slow run.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pipelines": "2/3600"}
    source = make_source(owner)
    assert [post(owner_client, body([source])).status_code for _ in range(2)] == [202, 202]
    response = post(owner_client, body([source]))
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert response.json()["error"]["code"] == "rate_limited"
    assert owner.pipelines.count() == 2  # the refused one made nothing
    owner_client.force_login(other)  # someone else is not held back by alice's pace
    assert post(owner_client, body([make_source(other)])).status_code == 202


def test_it_refuses_a_deeply_nested_body(owner_client, owner):
    response = post(owner_client, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_deep"
    nested = {"prompts": ["a"], "sources": [[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]}
    assert post(owner_client, nested).json()["error"]["code"] == "too_deep"
    assert owner.pipelines.count() == 0


@pytest.mark.parametrize("field", ["name", "description", "prompts", "tags", "template"])
def test_it_refuses_a_lone_surrogate_in_any_string(owner_client, owner, field):
    # JSON's escapes spell one and Python's parser keeps it: saved, the database's UTF-8 refused it (a 500).
    overrides = {field: ["LONE"] if field in ("prompts", "tags") else "x LONE"}
    response = post(owner_client, json.dumps(body([make_source(owner)], **overrides)).replace("LONE", "\\ud800"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert "lone surrogate" in response.json()["error"]["message"]
    # The same as the body's own bytes: UTF-8's encoding of one, which the parser lets through.
    raw = json.dumps(body([make_source(owner)], **overrides)).encode().replace(b"LONE", b"\xed\xa0\x80")
    assert post(owner_client, raw).json()["error"]["code"] == "invalid_json"
    assert owner.pipelines.count() == 0
    # Two that pair are one character, as JSON means them.
    paired = json.dumps(body([make_source(owner)], name="x LONE")).replace("LONE", "\\ud83d\\ude00")
    assert post(owner_client, paired).status_code == 202
    assert owner.pipelines.get().name == "x \U0001f600"


def test_it_takes_control_and_bidi_characters_out_of_a_name(owner_client, owner):
    assert post(owner_client, body([make_source(owner)], name="\u202eevil\u202c\r\nname")).status_code == 202
    assert owner.pipelines.get().name == "evil name"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": ["a", "list"]}, "name"),
        ({"description": {"an": "object"}}, "description"),
        ({"template": 5}, "template"),
        ({"i2i_negative_prompt": True}, "i2i_negative_prompt"),
        ({"prompts": [{"a": 1}]}, "prompts"),
        ({"prompts": [["nested"]]}, "prompts"),
        ({"prompts": ["a\x00b"]}, "prompts"),
        ({"tags": [True]}, "tags"),
        ({"sources": [1.5]}, "sources"),
        ({"sources": ["٣"]}, "sources"),
        ({"name": "a\x00b"}, "name"),
        ({"name": []}, "name"),
        ({"i2i_enabled": [[1]]}, "i2i_enabled"),
        ({"confirm_cost": {"a": 1}}, "confirm_cost"),
        ({"enhance_prompts": 1.5}, "enhance_prompts"),
        ({"mode": []}, "mode"),
        ({"mode": {"a": 1}}, "mode"),
        ({"i2i_model": ["local-i2i"]}, "i2i_model"),
        ({"videos_per_image": []}, "videos_per_image"),
        ({"duration": {}}, "duration"),
        ({"images_per_prompt": [2]}, "images_per_prompt"),
        ({"seed": "x"}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"seed": [1]}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": {"a": 1}}, "seed"),
    ],
)
def test_it_refuses_a_value_of_the_wrong_kind_instead_of_storing_its_repr(owner_client, owner, overrides, field):
    response = post(owner_client, body([make_source(owner)], **overrides))
    assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert owner.pipelines.count() == 0


def test_it_refuses_a_body_over_the_size_limit(owner_client, owner, settings):
    settings.API_JSON_MAX_BYTES = 2048
    response = post(owner_client, body([make_source(owner)], description="x" * 3000))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_it_refuses_huge_and_negative_source_ids(owner_client, owner):
    for ids in ([2**64], [-(2**63) - 5], [-1], [0]):
        response = post(owner_client, body([], sources=ids))
        assert response.status_code == 422 and response.json()["error"]["field"] == "sources"
