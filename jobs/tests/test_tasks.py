"""The generation tasks and executor with the local preview provider (synchronous,
free): plans of one step per output, stages, failures, cancellation. Hosted
providers' lifecycles are in test_provider_contract.py."""

import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from conftest import wait_for_a_lock_wait
from i2v.celery import app
from i2v.lib.ratelimit import QuotaExceeded
from jobs.models import Pipeline, Step
from jobs.providers import GeneratedFile, ProviderError, Remote
from jobs.providers.base import COMPLETED, FAILED
from jobs.tasks import dispatch_steps, run_step, sweep_steps
from jobs.tests.conftest import make_source, run_queued
from media_processing.models import ProcessingJob

I2I = {"model": "local-i2i", "images_per_prompt": 2, "aspect_ratio": "auto", "quality": "draft", "negative_prompt": ""}
I2V = {"model": "local-i2v", "videos_per_image": 1, "resolution": "480p", "duration": 2, "negative_prompt": ""}


def request(sources, prompts=("a red fox", "a blue owl"), i2i=I2I, i2v=None, mode="auto", tags=()):
    return {
        "name": "Run", "description": "", "tags": list(tags), "mode": mode, "sources": [s.pk for s in sources],
        "prompts": list(prompts), "i2i": i2i, "i2v": i2v,
    }  # fmt: skip


def test_it_plans_one_queued_step_per_output_each_with_its_own_seed(owner, source, sent):
    p = Pipeline.objects.create_from_request(owner, request([source], tags=["client-x"]))
    steps = list(p.steps.order_by("order"))
    assert [(s.kind, s.status, s.prompt, s.variant, s.config["seed"], s.inputs) for s in steps] == [
        ("i2i", "queued", "a red fox", 0, 0, {"asset_id": source.pk}),
        ("i2i", "queued", "a red fox", 1, 1, {"asset_id": source.pk}),
        ("i2i", "queued", "a blue owl", 0, 0, {"asset_id": source.pk}),
        ("i2i", "queued", "a blue owl", 1, 1, {"asset_id": source.pk}),
    ]
    assert {s.provider for s in steps} == {"local"} and {s.phase for s in steps} == {"submit"}
    assert (p.status, p.model, p.first_prompt, p.planned_steps) == ("running", "local-i2i", "a red fox", 4)
    assert "a blue owl" in p.search_text
    assert [t.name for t in p.tags.all()] == ["client-x"]


def test_it_wakes_the_dispatcher_once_on_commit_instead_of_a_message_per_step(owner, source, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Pipeline.objects.create_from_request(owner, request([source]))
        assert sent == []
    assert sent == [("dispatch", None)]


def test_it_dispatches_only_as_many_steps_as_the_provider_has_places(owner, source, sent, settings):
    settings.GENERATION_CONCURRENCY = {**settings.GENERATION_CONCURRENCY, "local": 3}
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a", "b", "c"]))
    sent.clear()

    assert dispatch_steps.run() == "dispatch_steps: 3 sent"
    assert len(sent) == 3
    assert dispatch_steps.run() == "dispatch_steps: 0 sent", "the three sent hold every place"
    assert p.steps.filter(sent_at__isnull=True).count() == 3


def test_it_gives_a_free_place_to_a_step_that_runs_again_before_fresh_ones(owner, source, sent, settings):
    # A worker died holding a step: handed back, it is due only from now, after every
    # fresh step; the one place it freed must still go to it, not to the backlog.
    settings.GENERATION_CONCURRENCY = {**settings.GENERATION_CONCURRENCY, "local": 1}
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a", "b", "c"]))
    first, *fresh = p.steps.order_by("order")
    Step.objects.filter(pk=first.pk).update(attempts=1, available_at=timezone.now())
    sent.clear()

    assert dispatch_steps.run() == "dispatch_steps: 1 sent"
    assert list(p.steps.filter(sent_at__isnull=False).values_list("pk", flat=True)) == [first.pk]


def test_it_accepts_a_big_plan_at_once_and_the_dispatcher_makes_its_steps(owner, source, sent, settings, django_capture_on_commit_callbacks):
    settings.GENERATION_EXPAND_INLINE_STEPS = 3
    with django_capture_on_commit_callbacks(execute=True):
        p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a", "b"], i2v=I2V))
    assert sent == [("dispatch", None)]
    assert (p.expanding, p.status, p.planned_steps, p.activity) == (True, "running", 8, "making 4 steps")
    assert p.steps.count() == 0

    assert dispatch_steps.run() == "dispatch_steps: 2 sent"  # local takes two at once

    p.refresh_from_db()
    assert (p.expanding, p.status, p.planned_steps) == (False, "running", 8), "the video stage still counts"
    assert [(s.prompt, s.variant, s.status) for s in p.steps.order_by("order")] == [
        ("a", 0, "queued"), ("a", 1, "queued"), ("b", 0, "queued"), ("b", 1, "queued"),
    ]  # fmt: skip
    assert Pipeline.objects.expand_due() == 0 and p.steps.count() == 4, "made once"


def test_it_makes_the_steps_at_the_sweepers_pass_when_the_wake_up_is_lost(owner, source, sent, settings):
    settings.GENERATION_EXPAND_INLINE_STEPS = 1
    p = Pipeline.objects.create_from_request(owner, request([source]))  # its on-commit message never leaves

    assert sweep_steps.run().startswith("sweep steps")

    assert p.steps.count() == 4 and not Pipeline.objects.get(pk=p.pk).expanding


def test_it_cancels_a_pipeline_before_its_steps_are_made_and_makes_none(owner, source, sent, settings):
    settings.GENERATION_EXPAND_INLINE_STEPS = 1
    p = Pipeline.objects.create_from_request(owner, request([source]))
    p.cancel()

    assert Pipeline.objects.expand_due() == 0
    p.refresh_from_db()
    assert (p.status, p.expanding, p.steps.count()) == ("cancelled", False, 0)


def test_it_counts_steps_not_yet_made_against_the_quota(owner, source, sent, settings):
    settings.GENERATION_EXPAND_INLINE_STEPS = 1
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 5
    Pipeline.objects.create_from_request(owner, request([source]))  # 4 steps, not made yet

    with pytest.raises(QuotaExceeded) as refused:
        Step.objects.check_quota(owner, 2)
    assert refused.value.message.startswith("You have 4 steps queued or running")
    Step.objects.check_quota(owner, 1)  # 4 + 1 fit


def test_it_runs_an_i2i_stage_to_completion(owner, source):
    p = run_queued(Pipeline.objects.create_from_request(owner, request([source])))
    assert (p.status, p.progress_done, p.planned_steps) == ("completed", 4, 4)
    step = p.steps.first()
    assert (step.status, step.attempts, step.progress) == ("completed", 1, 100)
    assert step.started_at and step.finished_at and step.heartbeat_at
    [call] = step.requests.all()
    assert (call.provider, call.state, call.attempt, call.cost) == ("local", "stored", 1, Decimal("0"))
    outputs = list(p.outputs.select_related("asset"))
    assert len(outputs) == 4 and len({o.asset_id for o in outputs}) == 4, "each seed its own image"
    asset = outputs[0].asset
    assert (asset.owner_id, asset.kind, asset.source, asset.mime) == (owner.id, "image", "generated", "image/jpeg")
    assert asset.prompt in ("a red fox", "a blue owl") and asset.width and len(asset.sha256) == 64
    assert asset.original.storage.exists(asset.original.name)
    # Generated files get renditions like uploads do.
    assert ProcessingJob.objects.filter(asset=asset, kind="thumbnails").exists()


def test_it_chains_i2v_steps_from_the_i2i_images(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a fox"], i2v=I2V))
    assert p.planned_steps == 2 + 2
    p = run_queued(p)
    assert p.status == "completed"
    videos = p.steps.filter(kind="i2v")
    assert videos.count() == 2 and set(videos.values_list("status", flat=True)) == {"completed"}
    images = set(p.outputs.filter(step__kind="i2i").values_list("asset_id", flat=True))
    assert {s.inputs["asset_id"] for s in videos} == images
    assert set(p.outputs.filter(step__kind="i2v").values_list("asset__kind", flat=True)) == {"video"}
    assert (p.progress_done, p.planned_steps) == (4, 4)


def test_it_runs_i2v_straight_from_the_sources_without_an_i2i_stage(owner, source):
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["zoom"], i2i=None, i2v={**I2V, "videos_per_image": 2}))
    assert (p.model, p.steps.count(), p.steps.first().kind) == ("local-i2v", 2, "i2v")
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
    p = Pipeline.objects.create_from_request(owner, request([source], prompts=["a"], i2i={**I2I, "images_per_prompt": 1}))
    step = p.steps.get()
    assert run_step.run(step.pk) == "completed"
    assert run_step.run(step.pk) == "skipped"
    assert p.outputs.count() == 1 and step.requests.count() == 1


def test_it_stores_the_same_bytes_once_per_owner(owner, source):
    first = run_queued(Pipeline.objects.create_from_request(owner, request([source], prompts=["a"])))
    again = run_queued(first.rerun())
    assert set(first.outputs.values_list("asset_id", flat=True)) == set(again.outputs.values_list("asset_id", flat=True))


def test_it_waits_without_an_attempt_when_the_provider_has_no_place(owner, source, settings):
    settings.GENERATION_CONCURRENCY = {**settings.GENERATION_CONCURRENCY, "local": 1}
    p = Pipeline.objects.create_from_request(owner, request([source]))
    busy, waiting = p.steps.order_by("order")[:2]
    busy.requests.create(owner=owner, pipeline=p, provider="local", model="local-i2i", account="", token="t1", state="sending")
    started = timezone.now()

    assert run_step.run(waiting.pk) == "waiting for a place"

    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.sent_at) == ("queued", 0, None), "handed back, no attempt counted"
    wait = (waiting.available_at - started).total_seconds()
    assert wait == pytest.approx(settings.GENERATION_PLACE_WAIT_SECONDS, abs=1)
    assert waiting.requests.count() == 0, "no paid call was opened"


def _submitting(monkeypatch, answer):
    def submit(self, job):
        if isinstance(answer, Exception):
            raise answer
        return answer(self, job)

    monkeypatch.setattr("jobs.providers.local.LocalProvider.submit", submit)


def one_step(owner, source):
    return Pipeline.objects.create_from_request(owner, request([source], prompts=["a"], i2i={**I2I, "images_per_prompt": 1}))


def test_it_sends_a_free_local_step_again_when_an_earlier_run_left_its_request_unanswered(owner, source):
    # The local preview costs nothing twice: what a paid provider leaves for a person (take_up_sent()) runs again.
    p = one_step(owner, source)
    step = p.steps.get()
    step.requests.create(owner=owner, pipeline=p, provider="local", model="local-i2i", account="", token="t1", state="sending")

    assert run_step.run(step.pk) == "completed"

    assert list(step.requests.order_by("attempt", "pk").values_list("state", flat=True)) == ["refused", "stored"]
    assert p.outputs.count() == 1


def test_it_retries_a_refused_submission_with_backoff_then_fails(owner, source, monkeypatch):
    _submitting(monkeypatch, ProviderError("The service is busy.", retryable=True))
    p = one_step(owner, source)
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
    assert list(step.requests.values_list("state", "cost")) == [("refused", Decimal("0"))] * 3, "refusals cost nothing"


def test_it_fails_at_once_on_a_permanent_error(owner, source, monkeypatch):
    _submitting(monkeypatch, ProviderError("FAL_KEY is not set."))
    p = run_queued(one_step(owner, source))
    step = p.steps.get()
    assert (step.status, step.attempts, step.error, p.status) == ("failed", 1, "FAL_KEY is not set.", "failed")


def test_it_stops_a_running_step_that_was_cancelled(owner, source, monkeypatch):
    p = one_step(owner, source)

    def submit(self, job):
        p.cancel()  # the user clicks Cancel while the provider works
        job.progress("image 1 of 2")
        raise AssertionError("the progress callback should have stopped the step")

    monkeypatch.setattr("jobs.providers.local.LocalProvider.submit", submit)
    assert run_step.run(p.steps.get().pk) == "cancelled"
    p.refresh_from_db()
    assert (p.status, p.steps.get().status, p.outputs.count(), p.total_cost) == ("cancelled", "cancelled", 0, Decimal("0"))


def test_it_records_the_cost_the_catalog_bills(owner, monkeypatch, settings):
    settings.GENERATION_MODELS = {**settings.GENERATION_MODELS, "local-i2i": {**settings.GENERATION_MODELS["local-i2i"], "price": {"per_image": "0.04"}}}
    image = GeneratedFile(b"\xff\xd8fake", "image/jpeg", "jpg", 8, 8)
    _submitting(monkeypatch, lambda self, job: Remote(COMPLETED, "x", files=[image]))
    p = run_queued(Pipeline.objects.create_from_request(owner, request([make_source(owner)])))
    assert p.total_cost == Decimal("0.16") == sum(s.cost_estimate for s in p.steps.all())
    assert p.outputs.values("asset").distinct().count() == 1


def test_it_records_the_cost_of_a_synchronous_answer_it_cannot_use(owner, source, monkeypatch, settings):
    settings.GENERATION_MODELS = {**settings.GENERATION_MODELS, "local-i2i": {**settings.GENERATION_MODELS["local-i2i"], "price": {"per_image": "0.04"}}}
    unusable = Remote(FAILED, "x", error="The image is not an image we can read.", reported_cost=Decimal("0.05"))
    _submitting(monkeypatch, lambda self, job: unusable)
    p = run_queued(one_step(owner, source))

    step = p.steps.get()
    assert (p.status, step.status, step.attempts, step.error) == ("failed", "failed", 1, unusable.error)
    assert (step.cost_actual, step.cost_reported, p.total_cost) == (Decimal("0.04"), Decimal("0.05"), Decimal("0.04"))
    [call] = step.requests.all()
    assert (call.state, call.cost, call.reported_cost, call.error) == ("failed", Decimal("0.04"), Decimal("0.05"), unusable.error)
    assert call.finished_at is not None and p.outputs.count() == 0


def test_it_fails_a_step_whose_source_is_gone(owner, source):
    p = one_step(owner, source)
    source.original.storage.delete(source.original.name)
    run_queued(p)
    step = p.steps.get()
    # Permanent: failed at the first attempt, with a message that says why.
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error == f"The source image #{source.pk} is no longer in the library."


def test_it_fails_a_step_without_a_source_readably(owner, source):
    p = one_step(owner, source)
    p.steps.update(inputs={"asset_ids": [source.pk]})  # an older shape of inputs
    run_queued(p)
    step = p.steps.get()
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error == "This step names no source image, so it can't run; rerun the pipeline."


def test_it_routes_steps_to_the_generation_queue_and_the_control_tasks_apart():
    assert app.amqp.router.route({}, "jobs.tasks.run_step")["queue"].name == "generation"
    assert app.amqp.router.route({}, "jobs.tasks.check_remote")["queue"].name == "control"
    assert app.amqp.router.route({}, "jobs.tasks.dispatch_steps")["queue"].name == "control"


def test_it_finishes_quietly_when_the_pipeline_was_deleted_meanwhile(owner, source, monkeypatch):
    p = one_step(owner, source)
    step_id = p.steps.get().pk
    real = Step.finish

    def finish(step, files, request):
        Pipeline.objects.filter(pk=p.pk).delete()
        return real(step, files, request)

    monkeypatch.setattr(Step, "finish", finish)
    assert run_step.run(step_id) == "cancelled"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between two connections: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_finishes_a_step_after_a_cancel_holding_its_pipeline_without_a_deadlock(owner, source, monkeypatch):
    """A cancel holds the pipeline's row, then updates its steps (another connection here, from
    the moment the provider answers); the step finishing meanwhile writes an output, whose
    trigger updates the pipeline's counts. The step takes the pipeline's row before its own,
    so it waits for the cancel, then sees it cancelled and stores nothing; the other order
    deadlocks, and PostgreSQL aborts one of the two."""
    p = one_step(owner, source)
    step = p.steps.get()
    params = connection.get_connection_params()
    holding, cancelled = threading.Event(), []

    def cancel(holder):
        try:
            holder.execute("SELECT 1 FROM jobs_pipeline WHERE id = %s FOR UPDATE", [p.pk])
            holding.set()
            wait_for_a_lock_wait(params)
            cancelled.append(holder.execute("UPDATE jobs_step SET status = 'cancelled' WHERE id = %s", [step.pk]).rowcount)
            holder.commit()
        except Exception as error:
            cancelled.append(repr(error))
            holding.set()

    def answer(provider, job):
        canceller.start()  # the cancel begins as the answer comes back
        holding.wait(30)
        return Remote(COMPLETED, "x", files=[GeneratedFile(b"\xff\xd8fake", "image/jpeg", "jpg", 8, 8)])

    _submitting(monkeypatch, answer)
    with psycopg.connect(**params) as holder:
        canceller = threading.Thread(target=cancel, args=(holder,))
        outcome = run_step.run(step.pk)
        canceller.join(30)
    assert (outcome, cancelled) == ("cancelled", [1])
    assert p.outputs.count() == 0 and Pipeline.objects.values_list("output_count", flat=True).get(pk=p.pk) == 0


