from decimal import Decimal

import pytest
from django.utils import timezone

from i2v.celery import app
from jobs.models import Pipeline, Step
from jobs.providers import GeneratedFile, ProviderError, ProviderResult
from jobs.tasks import run_step
from jobs.tests.conftest import make_source, run_queued
from media_processing.models import ProcessingJob

I2I = {"model": "local-i2i", "images_per_prompt": 2, "aspect_ratio": "auto", "quality": "draft", "negative_prompt": ""}
I2V = {"model": "local-i2v", "videos_per_image": 1, "resolution": "480p", "duration": 2, "negative_prompt": ""}


def request(sources, prompts=("a red fox", "a blue owl"), i2i=I2I, i2v=None, mode="auto", tags=()):
    return {
        "name": "Run", "description": "", "tags": list(tags), "mode": mode, "sources": [s.pk for s in sources],
        "prompts": list(prompts), "i2i": i2i, "i2v": i2v,
    }  # fmt: skip


def test_it_creates_one_queued_step_per_source_and_prompt(owner, source, sent):
    p = Pipeline.objects.create_from_request(owner, request([source], tags=["client-x"]))
    steps = list(p.steps.order_by("order"))
    assert [(s.kind, s.status, s.prompt, s.inputs) for s in steps] == [
        ("i2i", "queued", "a red fox", {"asset_id": source.pk}),
        ("i2i", "queued", "a blue owl", {"asset_id": source.pk}),
    ]
    assert steps[0].config["images_per_prompt"] == 2
    assert (p.status, p.model, p.first_prompt, p.planned_steps) == ("running", "local-i2i", "a red fox", 2)
    assert "a blue owl" in p.search_text
    assert [t.name for t in p.tags.all()] == ["client-x"]


def test_it_sends_the_messages_only_on_commit(owner, source, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        p = Pipeline.objects.create_from_request(owner, request([source]))
        assert sent == []
    assert sorted(i for i, _ in sent) == sorted(p.steps.values_list("pk", flat=True))


def test_it_runs_an_i2i_stage_to_completion(owner, source):
    p = run_queued(Pipeline.objects.create_from_request(owner, request([source])))
    assert (p.status, p.progress_done, p.planned_steps) == ("completed", 2, 2)
    step = p.steps.first()
    assert (step.status, step.attempts, step.progress) == ("completed", 1, 100)
    assert step.started_at and step.finished_at and step.heartbeat_at
    outputs = list(p.outputs.select_related("asset"))
    assert len(outputs) == 4
    asset = outputs[0].asset
    assert (asset.owner_id, asset.kind, asset.source, asset.mime) == (owner.id, "image", "generated", "image/jpeg")
    assert asset.prompt in ("a red fox", "a blue owl") and asset.width and len(asset.sha256) == 64
    assert asset.original.storage.exists(asset.original.name)
    # Generated files get renditions like uploads do.
    assert ProcessingJob.objects.filter(asset=asset, kind="thumbnails").exists()


def test_it_chains_i2v_steps_from_the_i2i_images(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a fox"], i2v=I2V))
    assert p.planned_steps == 1 + 2
    p = run_queued(p)
    assert p.status == "completed"
    videos = p.steps.filter(kind="i2v")
    assert videos.count() == 2 and set(videos.values_list("status", flat=True)) == {"completed"}
    images = set(p.outputs.filter(step__kind="i2i").values_list("asset_id", flat=True))
    assert {s.inputs["asset_id"] for s in videos} == images
    assert set(p.outputs.filter(step__kind="i2v").values_list("asset__kind", flat=True)) == {"video"}
    assert (p.progress_done, p.planned_steps) == (3, 3)


def test_it_runs_i2v_straight_from_the_sources_without_an_i2i_stage(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["zoom"], i2i=None, i2v={**I2V, "videos_per_image": 2}))
    assert (p.model, p.steps.get().kind) == ("local-i2v", "i2v")
    p = run_queued(p)
    assert p.status == "completed"
    assert p.outputs.filter(asset__kind="video").count() == 2


def test_it_pauses_for_review_in_checkpoint_mode(owner, source):
    p = run_queued(Pipeline.objects.create_from_request(owner, request([source], prompts=["a"], i2v=I2V, mode="checkpoint")))
    assert p.status == "paused"
    assert set(p.steps.filter(kind="i2v").values_list("status", flat=True)) == {"review"}
    assert p.approve() == 2
    p = run_queued(p)
    assert p.status == "completed"


def test_it_ignores_a_duplicate_delivery(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))
    step = p.steps.get()
    assert run_step.run(step.pk) == "completed"
    assert run_step.run(step.pk) == "skipped"
    assert p.outputs.count() == 2


def test_it_stores_the_same_bytes_once_per_owner(owner, source):
    first = run_queued(Pipeline.objects.create_from_request(owner, request([source], prompts=["a"])))
    again = run_queued(first.rerun())
    assert set(first.outputs.values_list("asset_id", flat=True)) == set(again.outputs.values_list("asset_id", flat=True))


def test_it_waits_when_the_provider_is_at_its_concurrency_limit(owner, source, settings, sent):
    settings.GENERATION_CONCURRENCY = {"local": 1}
    p = Pipeline.objects.create_from_request(owner, request([source]))
    busy, waiting = p.steps.order_by("order")
    Step.objects.filter(pk=busy.pk).update(status="running")
    sent.clear()
    started = timezone.now()
    assert run_step.run(waiting.pk) == "skipped"
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.sent_at) == ("queued", 0, None), "handed back, no attempt counted"
    wait = (waiting.available_at - started).total_seconds()
    assert wait == pytest.approx(settings.GENERATION_CONCURRENCY_RETRY_SECONDS, abs=1)
    assert sent == [], "the sweeper sends it when it is due"


def _failing(monkeypatch, exc):
    def generate(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr("jobs.providers.local.LocalProvider.generate_images", generate)


def test_it_retries_a_retryable_error_with_backoff_then_fails(owner, source, monkeypatch, sent):
    _failing(monkeypatch, ProviderError("The service is busy.", retryable=True))
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))
    step = p.steps.get()
    delays = []
    for attempt in (1, 2):
        started = timezone.now()
        assert run_step.run(step.pk) == "failed"
        step.refresh_from_db()
        assert (step.status, step.attempts, step.sent_at) == ("queued", attempt, None)
        delays.append((step.available_at - started).total_seconds())
        Step.objects.filter(pk=step.pk).update(available_at=timezone.now())  # the backoff passes
    assert delays == [pytest.approx(10, abs=1), pytest.approx(40, abs=1)]
    run_step.run(step.pk)
    step.refresh_from_db()
    p.refresh_from_db()
    assert (step.status, step.error, p.status) == ("failed", "The service is busy.", "failed")


def test_it_fails_at_once_on_a_permanent_error(owner, source, monkeypatch):
    _failing(monkeypatch, ProviderError("FAL_KEY is not set."))
    p = run_queued(Pipeline.objects.create_from_request(owner, request([source], prompts=["a"])))
    step = p.steps.get()
    assert (step.status, step.attempts, step.error, p.status) == ("failed", 1, "FAL_KEY is not set.", "failed")


def test_it_stops_a_running_step_that_was_cancelled(owner, source, monkeypatch):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))

    def generate(self, source, prompt, settings, on_progress=None):
        p.cancel()  # the user clicks Cancel while the provider works
        on_progress("image 1 of 2")
        raise AssertionError("on_progress should have stopped the step")

    monkeypatch.setattr("jobs.providers.local.LocalProvider.generate_images", generate)
    assert run_step.run(p.steps.get().pk) == "cancelled"
    p.refresh_from_db()
    assert (p.status, p.steps.get().status, p.outputs.count(), p.total_cost) == ("cancelled", "cancelled", 0, Decimal("0"))


def test_it_records_the_actual_cost(owner, monkeypatch):
    image = GeneratedFile(b"\xff\xd8fake", "image/jpeg", "jpg", 8, 8)

    def generate(self, source, prompt, settings, on_progress=None):
        return ProviderResult([image], Decimal("0.0400"))

    monkeypatch.setattr("jobs.providers.local.LocalProvider.generate_images", generate)
    p = run_queued(Pipeline.objects.create_from_request(owner, request([make_source(owner)])))
    assert p.total_cost == Decimal("0.08")
    assert p.outputs.values("asset").distinct().count() == 1


def test_it_fails_a_step_whose_source_is_gone(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))
    source.original.storage.delete(source.original.name)
    run_queued(p)
    step = p.steps.get()
    # Permanent: failed at the first attempt, with a message that says why.
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error == f"The source image #{source.pk} is no longer in the library."


def test_it_fails_a_step_without_a_source_readably(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))
    p.steps.update(inputs={"asset_ids": [source.pk]})  # an older shape of inputs
    run_queued(p)
    step = p.steps.get()
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error == "This step names no source image, so it can't run; rerun the pipeline."


def test_it_routes_steps_to_the_generation_queue():
    assert app.amqp.router.route({}, "jobs.tasks.run_step")["queue"].name == "generation"


def test_it_finishes_quietly_when_the_pipeline_was_deleted_meanwhile(owner, source, monkeypatch):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"]))
    step_id = p.steps.get().pk
    real = Step.finish

    def finish(step, files, cost):
        Pipeline.objects.filter(pk=p.pk).delete()
        return real(step, files, cost)

    monkeypatch.setattr(Step, "finish", finish)
    assert run_step.run(step_id) == "cancelled"
