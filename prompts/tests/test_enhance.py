"""Prompt enhancement as a pipeline's first step (prompts/enhance.py), against a fake
OpenAI-compatible chat server on loopback: rewritten prompts become the pipeline's,
failures are clear and retried, and no prompt is asked for twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Step
from jobs.tests.conftest import make_source, run_queued
from jobs.tasks import run_step

from .fake_llm import FakeChat, error
from i2v.lib.idempotency import form_key


@pytest.fixture
def llm(settings):
    with FakeChat() as server:
        server.configure(settings)
        yield server


def _create(client, owner, **overrides):
    data = {
        "sources": [make_source(owner).pk], "template": "a {red|blue} fox", "enhance_prompts": "on",
        "i2i_enabled": "on", "i2i_model": "local-i2i", "images_per_prompt": "1", "aspect_ratio": "1:1",
        "quality": "draft", "mode": "auto", "once": form_key(), **overrides,
    }  # fmt: skip
    response = client.post("/pipelines/new", data)
    assert response.status_code == 302, response.content.decode()
    return owner.pipelines.get()


def _enhance_step(pipeline):
    return pipeline.steps.get(kind=Step.Kind.PROMPT_ENHANCE)


def _time_passes(step):
    Step.objects.filter(pk=step.pk).update(available_at=timezone.now() - timedelta(seconds=1))


def test_it_enhances_the_prompts_first_then_generates_from_them(owner_client, owner, llm, sent):
    pipeline = _create(owner_client, owner)
    assert list(pipeline.steps.values_list("kind", "status")) == [("prompt_enhance", "queued")]
    assert (pipeline.status, pipeline.planned_steps) == ("running", 3)

    pipeline = run_queued(pipeline)
    assert pipeline.status == "completed"
    enhanced = ["a red fox, golden hour, 35mm film", "a blue fox, golden hour, 35mm film"]
    assert pipeline.config["prompts"] == enhanced
    assert pipeline.config["original_prompts"] == ["a red fox", "a blue fox"]
    assert sorted(pipeline.steps.filter(kind="i2i").values_list("config__prompt", flat=True)) == sorted(enhanced)
    assert pipeline.first_prompt == enhanced[0] and "golden hour" in pipeline.search_text
    assert (pipeline.planned_steps, pipeline.progress_done) == (3, 3)
    assert llm.prompts_asked == ["a red fox", "a blue fox"]
    assert pipeline.outputs.count() == 2


def test_it_retries_a_failing_model_and_carries_on_where_it_stopped(owner_client, owner, llm, settings, sent):
    settings.GENERATION_BACKOFF_SECONDS = 10
    pipeline = _create(owner_client, owner)
    step = _enhance_step(pipeline)
    # The first prompt is rewritten, then the server falls over once.
    original = llm.complete
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        return original(*args) if calls["n"] != 2 else error(503, "The server is overloaded.", "server_error")

    llm.complete = flaky
    before = timezone.now()
    run_step.run(step.pk)
    step.refresh_from_db()
    assert step.status == "queued" and step.attempts == 1
    assert step.error == f"The prompt model at {settings.PROMPT_LLM_URL} answered 503: The server is overloaded."
    assert step.config["enhanced"] == ["a red fox, golden hour, 35mm film"]  # kept for the retry
    assert round((step.available_at - before).total_seconds()) == 10
    assert step.progress_note == "Enhanced 1 of 2 prompts"

    _time_passes(step)
    pipeline = run_queued(pipeline)
    assert pipeline.status == "completed"
    # Three calls in all: the red fox once (kept), the blue fox failed once and then answered.
    assert llm.prompts_asked == ["a red fox", "a blue fox", "a blue fox"]
    assert _enhance_step(pipeline).attempts == 2


def test_it_fails_at_once_when_refused_and_runs_when_a_person_retries(owner_client, owner, llm, settings, sent):
    settings.PROMPT_LLM_KEY = "a-wrong-key"
    pipeline = run_queued(_create(owner_client, owner))
    step = _enhance_step(pipeline)
    assert (pipeline.status, step.status, step.attempts) == ("failed", "failed", 1)
    assert step.error == f"The prompt model at {settings.PROMPT_LLM_URL} answered 401: Incorrect API key provided."
    assert not pipeline.steps.filter(kind="i2i").exists()
    html = owner_client.get(f"/jobs/{pipeline.pk}/").content.decode()
    assert "answered 401: Incorrect API key provided." in html

    settings.PROMPT_LLM_KEY = "fake-llm-key"
    assert pipeline.retry_failed() == 1
    pipeline = run_queued(pipeline)
    assert pipeline.status == "completed" and pipeline.steps.filter(kind="i2i", status="completed").count() == 2


def test_it_explains_a_model_it_cannot_reach(owner_client, owner, llm, settings, sent):
    pipeline = _create(owner_client, owner)
    settings.PROMPT_LLM_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    run_step.run(_enhance_step(pipeline).pk)
    step = _enhance_step(pipeline)
    assert step.status == "queued" and step.error.startswith("The prompt model at http://127.0.0.1:9/v1 could not be reached")


def test_it_offers_enhancement_only_when_set_up(owner_client, owner, settings, llm):
    assert "Enhance the prompts with fake-chat-1 first" in owner_client.get("/pipelines/new").content.decode()
    settings.PROMPT_LLM_URL = ""
    assert "Enhance the prompts" not in owner_client.get("/pipelines/new").content.decode()
    response = owner_client.post("/pipelines/new", {
        "sources": [make_source(owner).pk], "prompts": "a fox", "enhance_prompts": "on", "i2i_enabled": "on", "i2i_model": "local-i2i",
    })  # fmt: skip
    assert response.status_code == 422 and not owner.pipelines.exists()
    assert "Prompt enhancement isn&#x27;t set up on this server (PROMPT_LLM_URL)." in response.content.decode()


def test_it_reruns_from_the_enhanced_prompts_without_enhancing_again(owner_client, owner, llm, sent):
    pipeline = run_queued(_create(owner_client, owner))
    again = pipeline.rerun()
    assert "enhance" not in again.config and again.config["prompts"] == pipeline.config["prompts"]
    assert not again.steps.filter(kind=Step.Kind.PROMPT_ENHANCE).exists()
