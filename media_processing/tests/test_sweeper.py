"""ProcessingJob.objects.sweep(): the shared work-queue sweep (i2v/lib/workqueue.py)
as the media queues use it, with what it does to the assets. The mechanism's own
cases (claims, leases, the lost-message count) are in i2v/tests/test_workqueue.py."""

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


def expire(job):
    """The worker holding `job` died: its lease ran out a moment ago."""
    ProcessingJob.objects.filter(pk=job.pk).update(leased_until=ago(1))


@pytest.fixture
def running(owner):
    """A job a worker claimed and then stopped renewing: the worker died."""
    job = queue_job(stored_asset(owner, encoded(picture())))
    ProcessingJob.objects.claim(job.pk)
    expire(job)
    return job


def test_it_requeues_a_job_whose_lease_ran_out_and_sends_it_at_once(running, broker, sweep):
    result = sweep()

    assert (result.expired, result.sent) == (1, 1)
    assert result.summary("sweep processing").startswith("sweep processing: 1 expired leases re-queued")
    running.refresh_from_db()
    running.asset.refresh_from_db()
    assert (running.status, running.attempts) == ("queued", 1)
    assert running.error.startswith("The worker stopped during attempt 1 of 3 (its lease ran out")
    assert running.asset.last_error == running.error
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
    assert running.failed_at
    assert running.asset.processing_status == "failed" and running.asset.last_error == running.error
    assert broker.take("thumbnails") == []


def test_it_leaves_a_job_with_a_live_lease_alone(running, broker, sweep):
    ProcessingJob.objects.filter(pk=running.pk).update(leased_until=timezone.now() + timedelta(seconds=20))

    assert sweep() == (0, 0, 0, 0)
    running.refresh_from_db()
    assert running.status == "processing"


def test_it_takes_back_a_running_job_left_without_a_lease(running, sweep):
    # Rows a worker held when the version before leases was deployed.
    ProcessingJob.objects.filter(pk=running.pk).update(leased_until=None)

    assert sweep().expired == 1


def test_it_sends_a_job_whose_message_never_left(owner, broker, sweep):
    job = queue_job(make_asset(owner), sent_at=None)

    assert sweep().sent == 1

    job.refresh_from_db()
    assert job.sent_at is not None
    assert broker.job_ids("thumbnails") == [job.pk]


def test_it_sends_backfill_after_fresh_uploads(owner, broker, sweep):
    backfill = queue_job(make_asset(owner), kind="variants", queue="backfill", sent_at=None, available_at=ago(60))
    upload = queue_job(make_asset(owner), sent_at=None)

    assert sweep().sent == 2
    assert ProcessingJob.objects.get(pk=upload.pk).sent_at <= ProcessingJob.objects.get(pk=backfill.pk).sent_at
    assert broker.job_ids("thumbnails") == [upload.pk] and broker.job_ids("backfill") == [backfill.pk]


def test_it_does_not_send_a_job_before_its_backoff_is_over(owner, broker, sweep):
    queue_job(make_asset(owner), sent_at=None, available_at=timezone.now() + timedelta(seconds=30))

    assert sweep().sent == 0
    assert broker.take("thumbnails") == []


def test_it_fails_queued_jobs_that_are_out_of_attempts(owner, broker, sweep):
    job = queue_job(make_asset(owner), attempts=3, sent_at=None, error="The original is not an image.")

    assert sweep().failed == 1

    job.refresh_from_db()
    assert job.status == "failed" and job.error == "The original is not an image."
    assert broker.take("thumbnails") == []


def test_it_does_nothing_the_second_time(running, owner, broker, sweep):
    queue_job(make_asset(owner), sent_at=None)

    assert sweep() == (1, 0, 2, 0)
    assert sweep() == (0, 0, 0, 0)
    assert len(broker.take("thumbnails")) == 2


def test_it_lets_an_upload_succeed_with_the_broker_down_and_sends_later(owner, broker, sweep, django_capture_on_commit_callbacks):
    asset = stored_asset(owner, encoded(picture()))

    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        jobs = ProcessingJob.objects.schedule_upload(asset)

    assert [job.status for job in jobs] == ["queued", "queued"]
    assert ProcessingJob.objects.filter(sent_at__isnull=True).count() == 2, "both marked as having no message"
    with broker_down():
        assert sweep().sent == 0, "a sweep during the outage sends nothing"
    assert ProcessingJob.objects.filter(sent_at__isnull=True).count() == 2
    assert sweep().sent == 2
    assert broker.job_ids("thumbnails") == [jobs[0].pk] and broker.job_ids("variants") == [jobs[1].pk]


@pytest.mark.django_db(transaction=True)
def test_it_is_safe_to_run_concurrently(owner, broker):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises writers by itself")
    assets = [make_asset(owner) for _ in range(20)]
    for asset in assets:
        job = queue_job(asset)
        ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.update(leased_until=ago(1))
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

    assert sum(result.expired for result in results) == 20, results
    assert sum(result.sent for result in results) == 20, results
    assert len(broker.take("thumbnails")) == 20, "each job sent again exactly once"
    assert set(ProcessingJob.objects.values_list("status", "attempts")) == {("queued", 1)}


def test_it_runs_from_beat_on_the_control_queue_and_never_expires():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-processing"]
    assert entry["task"] == "media_processing.tasks.sweep" and entry["schedule"] == settings.WORK_SWEEP_SECONDS
    assert "expires" not in entry.get("options", {}), "a late sweep still runs"
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "control"}
    assert settings.WORK_SWEEP_SECONDS + settings.WORK_LEASE_SECONDS < 90, "a dead worker's job runs again within 90 s"
