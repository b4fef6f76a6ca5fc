"""Step.objects.sweep(): the shared work-queue sweep (i2v/lib/workqueue.py) as the
generation queue uses it, with what it does to pipelines."""

import datetime

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Pipeline, Step
from jobs.tasks import sweep_steps
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import I2I, request


def ago(seconds):
    return timezone.now() - datetime.timedelta(seconds=seconds)


@pytest.fixture
def pipeline(owner):
    return Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=["a"], i2i={**I2I, "images_per_prompt": 1}))


def left_running(pipeline, attempts=1, lease_ended=ago(1)):
    """The step's worker died: it stopped renewing a lease that has now run out."""
    pipeline.steps.update(status="running", attempts=attempts, leased_until=lease_ended, sent_at=None)
    return pipeline.steps.get()


def sweep(capture):
    with capture(execute=True):
        return Step.objects.sweep()


def test_it_requeues_a_step_whose_worker_died_and_sends_it(pipeline, sent, django_capture_on_commit_callbacks):
    step = left_running(pipeline)
    sent.clear()

    assert sweep(django_capture_on_commit_callbacks) == (1, 0, 1, 0)

    step.refresh_from_db()
    assert (step.status, step.attempts) == ("queued", 1)
    assert step.error.startswith("The worker stopped during attempt 1 of 3")
    assert [i for i, _ in sent] == [step.pk]
    # The message runs it to the end.
    assert run_queued(pipeline).status == "completed"


def test_it_leaves_a_step_with_a_live_lease_alone(pipeline, django_capture_on_commit_callbacks):
    step = left_running(pipeline, lease_ended=timezone.now() + datetime.timedelta(seconds=20))

    assert sweep(django_capture_on_commit_callbacks) == (0, 0, 0, 0)
    step.refresh_from_db()
    assert step.status == "running"


def test_it_fails_a_dead_step_after_its_last_attempt(pipeline, django_capture_on_commit_callbacks):
    step = left_running(pipeline, attempts=3)

    assert sweep(django_capture_on_commit_callbacks) == (0, 1, 0, 0)

    step.refresh_from_db()
    pipeline.refresh_from_db()
    assert (step.status, pipeline.status) == ("failed", "failed")
    assert step.finished_at


def test_it_sends_a_queued_step_that_has_no_message(pipeline, sent, django_capture_on_commit_callbacks):
    pipeline.steps.update(sent_at=None)  # the broker was down when it was sent
    sent.clear()

    assert sweep(django_capture_on_commit_callbacks).sent == 1
    assert [i for i, _ in sent] == [pipeline.steps.get().pk]


def test_it_leaves_a_recently_sent_step_alone(pipeline, django_capture_on_commit_callbacks):
    pipeline.steps.update(sent_at=timezone.now())
    assert sweep(django_capture_on_commit_callbacks) == (0, 0, 0, 0)


def test_it_prints_a_one_line_summary(pipeline, capsys):
    left_running(pipeline)
    call_command("sweep_steps")
    assert capsys.readouterr().out.strip() == (
        "sweep steps: 1 expired leases re-queued, 0 failed for good, 1 due sent, 0 lost messages re-sent"
    )


def test_it_runs_from_celery_beat_on_the_control_queue(db):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-steps"]
    assert entry["task"] == "jobs.tasks.sweep_steps" and entry["schedule"] == settings.WORK_SWEEP_SECONDS
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "control"}
    assert sweep_steps.run().startswith("sweep steps: 0 expired")
