"""Pipeline.resume(): a cancelled pipeline's stopped steps run on, what was done is kept. Run through the real
engine (run_step, the poller) with the local provider; jobs/tests/test_provider_contract.py runs the paid ones."""

from decimal import Decimal

import pytest

from i2v.lib.workqueue import Superseded
from jobs import executor
from jobs.catalog import bill
from jobs.models import Pipeline, Step
from jobs.remote import RemoteRequest
from jobs.tasks import run_step
from jobs.tests.conftest import run_queued
from jobs.tests.test_pipeline_actions import create
from jobs.tests.test_tasks import I2V

PAID_VIDEO = {**I2V, "model": "kling-2.1", "duration": 5}


def cancelled_after_one(owner, **kwargs):
    """A pipeline cancelled once its first step made its image (the others never ran)."""
    p = create(owner, **kwargs)
    run_step.run(p.steps.order_by("order").first().pk)
    p.cancel()
    p.refresh_from_db()
    return p


def test_it_runs_on_only_the_cancelled_steps_keeping_what_was_done(owner, sent):
    p = cancelled_after_one(owner, prompts=["a", "b", "c"])
    done = p.steps.get(status="completed")
    output = p.outputs.get()
    assert (p.status, p.resume_conflict(), p.resume_refusal()) == ("cancelled", "", "")

    assert p.resume() == 2
    assert list(p.steps.order_by("order").values_list("status", flat=True)) == ["completed", "queued", "queued"]
    assert run_queued(p).status == "completed"
    assert p.steps.get(pk=done.pk).finished_at == done.finished_at, "the completed step was not run again"
    assert list(p.outputs.order_by("position").values_list("id", flat=True))[0] == output.id
    assert p.outputs.count() == 3 and p.progress_done == 3


def test_it_makes_the_stages_the_resumed_steps_lead_to_and_counts_their_cost(owner, provider_keys):
    p = cancelled_after_one(owner, prompts=["a", "b"], i2v=PAID_VIDEO)
    p.steps.update(cost_estimate=Decimal("0.04"))  # the image steps, as a paid image model would
    video = bill(PAID_VIDEO["model"], PAID_VIDEO).total
    assert video > 0
    # The cancelled image step may be billed again, and the video stage (one per image) is made after it unasked.
    assert p.resume_cost() == Decimal("0.04") + 2 * video

    Pipeline.objects.filter(pk=p.pk).update(config={**p.config, "i2v": {**I2V}})  # run it on the free local model
    p.refresh_from_db()
    p.resume()
    assert run_queued(p).status == "completed"
    assert p.steps.filter(kind="i2v", status="completed").count() == 2


def test_it_counts_no_video_stage_a_checkpoint_holds_for_review(owner, provider_keys):
    p = cancelled_after_one(owner, prompts=["a", "b"], i2v=PAID_VIDEO, mode="checkpoint")
    p.steps.update(cost_estimate=Decimal("0.04"))
    assert p.resume_cost() == Decimal("0.04"), "approving the videos is asked for on its own"


def test_it_counts_no_video_stage_that_waits_for_an_image_it_leaves_failed(owner, provider_keys):
    p = cancelled_after_one(owner, prompts=["a", "b", "c"], i2v=PAID_VIDEO)
    p.steps.update(cost_estimate=Decimal("0.04"))
    Step.objects.filter(pk=p.steps.get(order=2).pk).update(status="failed")  # failed before the cancel: not resumed
    assert p.resume_cost() == Decimal("0.04"), "the video stage is made only once every image is"


def test_it_puts_a_checkpoint_stage_that_never_started_back_under_review(owner):
    p = run_queued(create(owner, prompts=["a"], i2v=I2V, mode="checkpoint"))
    assert p.status == "paused"
    p.cancel()
    p.refresh_from_db()
    assert p.resume() == 1
    p.refresh_from_db()
    assert p.status == "paused" and p.steps.get(kind="i2v").status == "review"
    p.approve()
    assert run_queued(p).status == "completed"


def test_it_queues_a_checkpoint_stage_that_had_started(owner):
    p = run_queued(create(owner, prompts=["a", "b"], i2v=I2V, mode="checkpoint"))
    p.approve()
    run_step.run(p.steps.filter(kind="i2v").order_by("order").first().pk)
    p.cancel()
    p.refresh_from_db()
    assert p.resume() == 1
    assert p.steps.get(kind="i2v", status="queued")
    assert run_queued(p).status == "completed"


def test_it_fences_off_a_worker_still_holding_a_step_from_before_the_cancel(owner):
    p = create(owner, prompts=["a"])
    step = p.steps.get()
    old_run = Step.objects.claim(step.pk)  # a worker's claimed step, mid-run
    p.cancel()

    with pytest.raises(Superseded):
        executor.submit(old_run)  # cancelled since it was claimed: it sends nothing
    assert not RemoteRequest.objects.exists()

    p.refresh_from_db()
    p.resume()
    resumed = Step.objects.get(pk=step.pk)
    assert (resumed.status, resumed.attempts, resumed.max_attempts) == ("queued", 0, 3), "a fresh set of attempts"
    new_run = Step.objects.claim(step.pk)
    assert new_run.attempts == old_run.attempts and not old_run.mine().exists(), "its run number is not the old run's"
    assert not old_run.complete() and Step.objects.get(pk=step.pk).status == "running"


def test_it_says_why_there_is_nothing_to_resume(owner):
    running = create(owner, prompts=["a"])
    assert running.resume_conflict() == "“Run” is running: only a cancelled pipeline can be resumed."
    done = run_queued(create(owner, prompts=["a"]))
    assert done.resume_conflict() == "“Run” is completed: only a cancelled pipeline can be resumed."

    Pipeline.objects.filter(pk=done.pk).update(status="cancelled")  # none of its steps was stopped
    done.refresh_from_db()
    assert done.resume_conflict() == Pipeline.NOTHING_TO_RESUME
    assert done.resume() == 0


def test_it_waits_for_a_request_still_being_stopped_at_the_provider(owner):
    p = create(owner, prompts=["a"])
    step = p.steps.get()
    p.cancel()
    p.refresh_from_db()
    request = RemoteRequest.objects.create(
        step=step, owner=owner, pipeline=p, provider="fal", model="flux-kontext", token="t", state="queued"
    )
    assert p.resume_conflict() == Pipeline.STILL_STOPPING
    assert p.resume() == 0 and p.steps.get().status == "cancelled"

    RemoteRequest.objects.filter(pk=request.pk).update(state="cancelled")  # the poller cancelled it there
    assert p.resume_conflict() == ""
    assert p.resume_cost() == step.cost_estimate
    assert p.resume() == 1


def test_it_sends_again_a_step_a_synchronous_provider_finished_as_it_was_cancelled(owner):
    """The local provider answers with the files: a request of its that completed as the step was cancelled
    left nothing to fetch (its files went with the cancelled step's run), so the step is sent again, not
    queued to fetch what no provider holds (a make-run session: NotImplementedError, the pipeline failed)."""
    p = create(owner, prompts=["a"])
    step = p.steps.get()
    p.cancel()
    p.refresh_from_db()
    RemoteRequest.objects.create(
        step=step, owner=owner, pipeline=p, provider="local", model=step.model_name, token="t", state="completed"
    )
    assert p.resume() == 1
    assert p.steps.get().phase == Step.Phase.SUBMIT
    assert run_queued(p).status == "completed" and p.outputs.count() == 1


def test_it_waits_while_any_of_its_cancelled_steps_is_still_being_stopped(owner):
    """Resumed with one step still stopping, the others would run on and the pipeline end cancelled again with
    that one left behind (a Resume the second after a Cancel)."""
    p = create(owner, prompts=["a", "b"])
    stopping = p.steps.order_by("order").first()
    p.cancel()
    p.refresh_from_db()
    request = RemoteRequest.objects.create(
        step=stopping, owner=owner, pipeline=p, provider="fal", model="flux-kontext", token="t", state="running"
    )
    assert p.resume_conflict() == Pipeline.STILL_STOPPING

    RemoteRequest.objects.filter(pk=request.pk).update(state="cancelled")  # the poller cancelled it there
    assert p.resume_conflict() == "" and p.resume() == 2


def test_it_refuses_when_the_cancelled_steps_sources_were_deleted(owner):
    p = cancelled_after_one(owner, prompts=["a", "b"])
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    assert "deleted from your library, so resuming them would fail" in p.resume_refusal()
