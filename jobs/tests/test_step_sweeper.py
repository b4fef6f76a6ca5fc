import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Pipeline, Step
from jobs.tasks import sweep_steps
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import request

LONG_AGO = timezone.now() - datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def queue_size(monkeypatch):
    """Messages waiting in the generation queue, as the broker would say."""
    size = {"n": 0}
    monkeypatch.setattr("jobs.models.broker_queue_sizes", lambda queues: {q: size["n"] for q in queues})
    return size


@pytest.fixture
def pipeline(owner):
    return Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=["a"]))


def left_running(pipeline, attempts=1, heartbeat=LONG_AGO):
    pipeline.steps.update(status="running", attempts=attempts, heartbeat_at=heartbeat, sent_at=None)
    return pipeline.steps.get()


def test_it_requeues_a_step_whose_worker_died(pipeline, sent, django_capture_on_commit_callbacks):
    step = left_running(pipeline)
    with django_capture_on_commit_callbacks(execute=True):
        assert Step.objects.sweep_stale() == (1, 0, 0)
    step.refresh_from_db()
    assert (step.status, step.attempts) == ("queued", 1)
    assert "worker stopped" in step.error
    assert [i for i, _ in sent] == [step.pk]
    # The re-sent message runs it to the end.
    assert run_queued(pipeline).status == "completed"


def test_it_leaves_a_step_with_a_fresh_heartbeat_alone(pipeline):
    step = left_running(pipeline, heartbeat=timezone.now())
    assert Step.objects.sweep_stale() == (0, 0, 0)
    step.refresh_from_db()
    assert step.status == "running"


def test_it_fails_a_stale_step_after_its_last_attempt(pipeline, settings):
    step = left_running(pipeline, attempts=settings.GENERATION_MAX_ATTEMPTS)
    assert Step.objects.sweep_stale() == (0, 1, 0)
    step.refresh_from_db()
    pipeline.refresh_from_db()
    assert (step.status, pipeline.status) == ("failed", "failed")
    assert step.finished_at


def test_it_resends_a_queued_step_whose_message_was_lost(pipeline, sent, django_capture_on_commit_callbacks):
    pipeline.steps.update(sent_at=None)  # the broker was down when it was sent
    with django_capture_on_commit_callbacks(execute=True):
        assert Step.objects.sweep_stale() == (0, 0, 1)
    assert [i for i, _ in sent] == [pipeline.steps.get().pk]


def test_it_resends_an_old_message_only_while_the_queue_is_empty(pipeline, queue_size):
    pipeline.steps.update(sent_at=LONG_AGO)
    queue_size["n"] = 50  # a backlog: the message is probably still in it
    assert Step.objects.sweep_stale() == (0, 0, 0)
    queue_size["n"] = 0
    assert Step.objects.sweep_stale() == (0, 0, 1)


def test_it_leaves_a_recently_sent_step_alone(pipeline):
    assert Step.objects.sweep_stale() == (0, 0, 0)


def test_it_does_nothing_when_the_broker_is_down(pipeline, monkeypatch):
    monkeypatch.setattr("jobs.models.broker_queue_sizes", lambda queues: None)
    pipeline.steps.update(sent_at=None)
    assert Step.objects.sweep_stale() == (0, 0, 0)


def test_it_prints_a_one_line_summary(pipeline, capsys):
    left_running(pipeline)
    call_command("sweep_steps")
    assert capsys.readouterr().out.strip() == "sweep_steps: 1 stale steps re-queued, 0 failed for good, 0 messages re-sent"


def test_it_runs_from_celery_beat(settings, db):
    assert settings.CELERY_BEAT_SCHEDULE["sweep-steps"]["task"] == "jobs.tasks.sweep_steps"
    assert "sweep-processing" in settings.CELERY_BEAT_SCHEDULE
    assert sweep_steps.run().startswith("sweep_steps: 0 stale")
