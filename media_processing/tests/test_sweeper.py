"""sweep(): stale heartbeats, lost messages, exhausted jobs."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from conftest import make_asset
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

from .conftest import broker_down, encoded, picture, queue_job, stored_asset


def ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def running(owner):
    """A job a worker claimed and then stopped heart-beating: the worker died."""
    job = queue_job(stored_asset(owner, encoded(picture())))
    ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.filter(pk=job.pk).update(heartbeat_at=ago(settings.PROCESSING_STALE_SECONDS + 5))
    return job


def test_it_requeues_a_job_whose_worker_died(running, broker, sweep):
    result = sweep()

    assert result.requeued == 1 and result.summary().startswith("sweep: 1 stale jobs re-queued")
    running.refresh_from_db()
    assert (running.status, running.attempts) == ("queued", 1)
    assert running.error == f"The worker stopped during attempt 1 of 3 (no heartbeat for over {settings.PROCESSING_STALE_SECONDS} s)."
    assert broker.job_ids("thumbnails") == [running.pk]
    assert run_job.run(running.pk) == "completed"
    running.refresh_from_db()
    assert (running.status, running.attempts) == ("completed", 2)


def test_it_fails_a_dead_workers_job_on_its_last_attempt(running, broker, sweep):
    ProcessingJob.objects.filter(pk=running.pk).update(attempts=3)

    assert sweep().failed == 1

    running.refresh_from_db()
    running.asset.refresh_from_db()
    assert running.status == "failed" and running.error.startswith("The worker stopped during attempt 3 of 3")
    assert running.asset.processing_status == "failed" and running.asset.last_error == running.error
    assert broker.take("thumbnails") == []


def test_it_leaves_a_live_job_alone(running, broker, sweep):
    ProcessingJob.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now())

    assert sweep() == (0, 0, 0)
    running.refresh_from_db()
    assert running.status == "processing"


def test_it_sends_a_job_whose_message_never_left(owner, broker, sweep):
    job = queue_job(make_asset(owner), sent_at=None)

    assert sweep().resent == 1

    job.refresh_from_db()
    assert job.sent_at is not None
    assert broker.job_ids("thumbnails") == [job.pk]


def test_it_resends_a_message_lost_by_the_broker(owner, broker, sweep):
    # Sent long ago, and the broker's queue is empty: the message is gone.
    job = queue_job(make_asset(owner), sent_at=ago(settings.PROCESSING_RESEND_SECONDS + 5))

    assert sweep().resent == 1
    assert broker.job_ids("thumbnails") == [job.pk]


def test_it_leaves_jobs_waiting_behind_a_backlog_alone(owner, broker, sweep):
    waiting = queue_job(make_asset(owner), queue="backfill", kind="variants", sent_at=ago(3600))
    ahead = queue_job(make_asset(owner), queue="backfill", kind="variants")
    ahead.send()  # a message in the broker's queue: it is draining, not losing messages

    assert sweep().resent == 0
    assert broker.job_ids("backfill") == [ahead.pk]
    assert sweep().resent == 1, "once the queue is empty, the old one is re-sent"
    assert broker.job_ids("backfill") == [waiting.pk]


def test_it_does_not_send_a_job_before_its_backoff_is_over(owner, broker, sweep):
    queue_job(make_asset(owner), sent_at=None, available_at=timezone.now() + timedelta(seconds=30))

    assert sweep().resent == 0
    assert broker.take("thumbnails") == []


def test_it_fails_queued_jobs_that_are_out_of_attempts(owner, broker, sweep):
    job = queue_job(make_asset(owner), attempts=3, sent_at=None, error="The original is not an image.")

    assert sweep().failed == 1

    job.refresh_from_db()
    assert job.status == "failed" and job.error == "The original is not an image."
    assert broker.take("thumbnails") == []


def test_it_does_nothing_the_second_time(running, owner, broker, sweep):
    queue_job(make_asset(owner), sent_at=None)

    assert sweep() == (1, 0, 1)
    assert sweep() == (0, 0, 0)
    assert len(broker.take("thumbnails")) == 2


def test_it_lets_an_upload_succeed_with_the_broker_down_and_sends_later(owner, broker, sweep, django_capture_on_commit_callbacks):
    asset = stored_asset(owner, encoded(picture()))

    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        jobs = ProcessingJob.objects.schedule_upload(asset)

    assert [job.status for job in jobs] == ["queued", "queued"]
    assert ProcessingJob.objects.filter(sent_at__isnull=True).count() == 2, "both marked as having no message"
    with broker_down():
        assert sweep().resent == 0, "a sweep during the outage sends nothing"
    assert ProcessingJob.objects.filter(sent_at__isnull=True).count() == 2
    assert sweep().resent == 2
    assert broker.job_ids("thumbnails") == [jobs[0].pk] and broker.job_ids("variants") == [jobs[1].pk]


@pytest.mark.django_db(transaction=True)
def test_it_is_safe_to_run_concurrently(owner, broker):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises writers by itself")
    assets = [make_asset(owner) for _ in range(20)]
    for asset in assets:
        job = queue_job(asset)
        ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.update(heartbeat_at=ago(settings.PROCESSING_STALE_SECONDS + 5))
    results = []

    def sweep_in_a_thread():
        broker.app.set_current()  # the current app is per thread
        try:
            results.append(ProcessingJob.objects.sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep_in_a_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(result.requeued for result in results) == 20, results
    assert len(broker.take("thumbnails")) == 20, "each job re-sent exactly once"
    assert set(ProcessingJob.objects.values_list("status", "attempts")) == {("queued", 1)}


def test_it_runs_every_minute_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-processing"]
    assert entry["task"] == "media_processing.tasks.sweep" and entry["schedule"] == 60
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "thumbnails"}
