"""A queue that fails N jobs in a row pauses for a cool-off; its jobs wait, queued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import make_asset
from media_processing.models import ProcessingJob, QueueState
from media_processing.tasks import run_job

from .conftest import encoded, picture, queue_job, stored_asset


@pytest.fixture(autouse=True)
def breaker(settings):
    settings.PROCESSING_BREAKER_FAILURES = 3
    settings.PROCESSING_BREAKER_COOLOFF_SECONDS = 300


def fail_in_storage(owner, n, queue="thumbnails"):
    """n jobs whose originals are not in storage: what a lost storage mount looks like."""
    for _ in range(n):
        job = queue_job(make_asset(owner, renditions=False), queue=queue, max_attempts=1)
        assert run_job.run(job.pk) == "failed"


def state(queue="thumbnails"):
    return QueueState.objects.filter(queue=queue).first()


def test_it_pauses_a_queue_after_n_failures_in_a_row(owner):
    fail_in_storage(owner, 2)
    assert not state().is_paused()

    fail_in_storage(owner, 1)

    assert state().is_paused()
    assert state().paused_until == pytest.approx(timezone.now() + timedelta(seconds=300), abs=timedelta(seconds=5))
    assert "missing from storage" in state().last_error
    status = ProcessingJob.objects.queue_status()
    assert status["paused_queues"] == ["thumbnails"]
    assert status["by_queue"]["thumbnails"]["paused"] and status["by_queue"]["thumbnails"]["consecutive_failures"] == 3
    assert not status["by_queue"]["variants"]["paused"]


def test_it_leaves_a_paused_queues_jobs_queued(owner):
    fail_in_storage(owner, 3)
    waiting = queue_job(stored_asset(owner, encoded(picture())))
    other_queue = queue_job(stored_asset(owner, encoded(picture((640, 480)))), kind="variants", queue="variants")

    assert run_job.run(waiting.pk) == "skipped"
    assert run_job.run(other_queue.pk) == "completed", "only the failing queue pauses"

    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.sent_at) == ("queued", 0, None)


def test_it_sends_the_waiting_jobs_once_the_cool_off_is_over(owner, broker, sweep):
    fail_in_storage(owner, 3)
    waiting = queue_job(stored_asset(owner, encoded(picture())))
    run_job.run(waiting.pk)
    assert sweep().sent == 0, "nothing is sent to a paused queue"

    QueueState.objects.update(paused_until=timezone.now() - timedelta(seconds=1))

    assert sweep().sent == 1
    assert broker.job_ids("thumbnails") == [waiting.pk]
    assert run_job.run(waiting.pk) == "completed"
    assert state().consecutive_failures == 0 and not state().paused_until, "a success closes the breaker"


def test_it_pauses_again_at_the_first_failure_after_the_cool_off(owner):
    fail_in_storage(owner, 3)
    QueueState.objects.update(paused_until=timezone.now() - timedelta(seconds=1))

    fail_in_storage(owner, 1)

    assert state().is_paused()


def test_it_counts_only_failures_in_a_row(owner):
    fail_in_storage(owner, 2)
    run_job.run(queue_job(stored_asset(owner, encoded(picture()))).pk)
    fail_in_storage(owner, 2)

    assert state().consecutive_failures == 2 and not state().is_paused()


def test_it_does_not_pause_for_corrupt_uploads(owner):
    # A bad batch of files says nothing about the queue: other uploads must go on.
    for n in range(5):
        job = queue_job(stored_asset(owner, b"not an image %d" % n), max_attempts=1)
        run_job.run(job.pk)

    assert state() is None
    assert ProcessingJob.objects.queue_status()["paused_queues"] == []


def test_it_can_be_resumed_by_hand(owner):
    fail_in_storage(owner, 3)

    QueueState.objects.resume("thumbnails")

    assert not state().is_paused() and state().consecutive_failures == 0
