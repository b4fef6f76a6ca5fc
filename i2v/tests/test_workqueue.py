"""The shared work-queue mechanism (i2v/lib/workqueue.py), through ProcessingJob,
one of the queues built on it (the generation queue is another)."""

import time
from datetime import timedelta

import pytest
from celery.exceptions import Reject
from django.db import OperationalError, connection
from django.utils import timezone

from conftest import make_asset
from i2v.lib.workqueue import LeaseHeld, LeaseKeeper, Superseded, Unrecorded
from media_processing.errors import BadOriginal, StorageError
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job
from media_processing.tests.conftest import broker, encoded, picture, queue_job, stored_asset, sweep  # noqa: F401


def ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def job(owner):
    return queue_job(make_asset(owner))


def test_it_claims_a_row_once_whatever_the_number_of_deliveries(job):
    first = ProcessingJob.objects.claim(job.pk)
    second = ProcessingJob.objects.claim(job.pk)

    assert isinstance(first, ProcessingJob) and (first.status, first.attempts) == ("processing", 1)
    assert isinstance(second, LeaseHeld), "the second delivery finds the lease"
    assert 0 < second.seconds <= 30 and second.ref.queue == "thumbnails"
    job.refresh_from_db()
    assert job.sent_at is None and job.leased_until > timezone.now()


def test_it_takes_over_a_row_whose_lease_ran_out_when_its_message_comes_back(job):
    ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.filter(pk=job.pk).update(leased_until=ago(1))

    again = ProcessingJob.objects.claim(job.pk)

    assert isinstance(again, ProcessingJob) and again.attempts == 2
    assert again.error.startswith("The worker stopped during attempt 1 of 3")


def test_it_makes_a_redelivered_message_wait_for_a_live_lease(job, broker):
    ProcessingJob.objects.claim(job.pk)

    assert run_job.run(job.pk) == "waiting for the lease"

    [message] = broker.messages("thumbnails")
    assert message["args"] == [job.pk] and message["eta"], "it comes back when the lease ends"


def test_it_leaves_a_row_that_is_not_due_without_a_message(owner, broker):
    job = queue_job(make_asset(owner), available_at=timezone.now() + timedelta(seconds=60))

    assert ProcessingJob.objects.claim(job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.attempts, job.sent_at) == ("queued", 0, None), "the sweeper sends it when due"


def test_it_skips_a_message_for_a_finished_row(job):
    ProcessingJob.objects.filter(pk=job.pk).update(status="completed")

    assert ProcessingJob.objects.claim(job.pk) is None
    assert run_job.run(job.pk) == "skipped"


def test_it_fails_a_permanent_error_at_once(job):
    claimed = ProcessingJob.objects.claim(job.pk)

    assert claimed.fail(BadOriginal("The original image is damaged.")) is None

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("failed", 1, "The original image is damaged.")


def test_it_backs_off_a_transient_error_without_a_message_until_due(job, broker, sweep):
    claimed = ProcessingJob.objects.claim(job.pk)

    assert claimed.fail(StorageError("The storage timed out.")) == 10

    job.refresh_from_db()
    assert (job.status, job.attempts, job.sent_at, job.leased_until) == ("queued", 1, None, None)
    assert sweep().sent == 0, "not due yet"
    ProcessingJob.objects.filter(pk=job.pk).update(available_at=timezone.now())
    assert sweep().sent == 1
    assert broker.job_ids("thumbnails") == [job.pk]


def test_it_fails_a_transient_error_on_the_last_attempt(job):
    ProcessingJob.objects.filter(pk=job.pk).update(attempts=2)
    claimed = ProcessingJob.objects.claim(job.pk)

    assert claimed.fail(StorageError("The storage timed out.")) is None

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3)


def test_it_hands_a_row_back_without_counting_the_attempt(job):
    claimed = ProcessingJob.objects.claim(job.pk)

    assert claimed.defer(30, "Waiting for a slot.")

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error, job.sent_at) == ("queued", 0, "Waiting for a slot.", None)
    assert job.available_at > timezone.now() + timedelta(seconds=25)


def test_it_fences_a_run_whose_lease_was_taken_back(job):
    mine = ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.filter(pk=job.pk).update(leased_until=ago(1))
    ProcessingJob.objects.claim(job.pk)  # another worker's message takes it over

    assert mine.renew_lease() is False
    assert mine.complete() is False
    assert mine.fail(StorageError("late")) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("processing", 2)


def test_it_fences_a_run_from_before_a_persons_retry_though_the_attempts_start_again(job):
    stale = ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.filter(pk=job.pk).update(leased_until=ago(1), max_attempts=1)
    assert ProcessingJob.objects.expire() == (0, 1), "its lease ran out on its last attempt: failed"
    assert ProcessingJob.objects.get(pk=job.pk).requeue(), "a person retried it: a fresh set of attempts"
    retried = ProcessingJob.objects.claim(job.pk)
    assert retried.attempts == stale.attempts == 1

    assert stale.renew_lease() is False
    assert stale.complete() is False
    assert stale.fail(StorageError("late")) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("processing", 1, "")
    assert retried.complete()


def test_it_resends_only_what_the_broker_lost(owner, broker, sweep):
    # Three messages sent a minute ago; the broker holds one of them: two were lost.
    old = [queue_job(make_asset(owner), sent_at=ago(60 + n)) for n in range(3)]
    broker.purge()
    ProcessingJob.objects.send_many([old[0]])
    recent = queue_job(make_asset(owner), sent_at=ago(1))  # may still be on its way

    assert sweep().resent == 2

    assert sorted(broker.job_ids("thumbnails")) == sorted([old[0].pk, old[1].pk, old[2].pk])
    assert ProcessingJob.objects.get(pk=recent.pk).sent_at < timezone.now() - timedelta(seconds=0.5)


def test_it_resends_lost_messages_on_a_busy_queue(owner, broker, sweep):
    lost = [queue_job(make_asset(owner), sent_at=ago(300)) for _ in range(2)]
    broker.purge()
    busy = [queue_job(make_asset(owner), sent_at=ago(60)) for _ in range(3)]
    ProcessingJob.objects.send_many(busy)  # a backlog the broker does hold

    assert sweep().resent == 2, "the oldest are the lost ones"
    assert sorted(broker.job_ids("thumbnails")) == sorted(job.pk for job in lost + busy)


def test_it_keeps_the_lease_alive_from_a_thread_and_notices_when_it_is_lost(owner, settings, transactional_db):
    settings.WORK_LEASE_KEEPER = True
    settings.WORK_HEARTBEAT_SECONDS = 0.2
    job = queue_job(make_asset(owner))
    claimed = ProcessingJob.objects.claim(job.pk)
    granted = claimed.leased_until

    with LeaseKeeper(claimed) as keeper:
        wait_until(lambda: ProcessingJob.objects.get(pk=job.pk).leased_until > granted)
        claimed.checkpoint()  # still ours: goes on
        ProcessingJob.objects.filter(pk=job.pk).update(status="queued")  # a person cancelled it, say
        wait_until(lambda: keeper.lost)
        with pytest.raises(Superseded):
            claimed.checkpoint()


def wait_until(condition, timeout=5):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_it_gives_the_message_back_while_the_database_is_down(job, settings, monkeypatch):
    settings.WORK_DB_WAIT_SECONDS = 1
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(1)
        raise OperationalError("connection refused")

    monkeypatch.setattr(type(ProcessingJob.objects), "claim", unreachable)

    with pytest.raises(Reject) as rejected:
        run_job.run(job.pk)

    assert rejected.value.requeue is True, "handed back to the broker, never acknowledged"
    assert len(calls) >= 2, "it waited and tried again before giving the message back"


def test_it_runs_once_the_database_answers_again(owner, settings, monkeypatch):
    settings.WORK_DB_WAIT_SECONDS = 5
    job = queue_job(stored_asset(owner, encoded(picture())))
    real = type(ProcessingJob.objects).claim
    failures = [OperationalError("server closed the connection unexpectedly")]

    def flaky(manager, pk, *args, **kwargs):
        if failures:
            raise failures.pop()
        return real(manager, pk, *args, **kwargs)

    monkeypatch.setattr(type(ProcessingJob.objects), "claim", flaky)

    assert run_job.run(job.pk) == "completed"


def test_it_defers_a_run_the_database_interrupted_without_counting_it(owner, monkeypatch):
    job = queue_job(stored_asset(owner, encoded(picture())))

    def outage(job):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr("media_processing.work.run", outage)

    assert run_job.run(job.pk) == "deferred"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("queued", 0, "Interrupted by a database outage.")
    assert connection.is_usable()


def test_it_leaves_a_run_that_could_not_record_its_work_leased_for_the_sweeper(owner, monkeypatch):
    job = queue_job(stored_asset(owner, encoded(picture())))

    def unrecorded(job):
        raise Unrecorded("done, but not written down") from OperationalError("server closed the connection")

    monkeypatch.setattr("media_processing.work.run", unrecorded)

    assert run_job.run(job.pk) == "left to the sweeper"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("processing", 1, ""), "neither handed back nor failed"
    ProcessingJob.objects.filter(pk=job.pk).update(leased_until=ago(1))
    assert ProcessingJob.objects.expire() == (1, 0), "its lease runs out: the model's lease_ran_out() decides"


def test_it_sends_a_row_that_runs_again_ahead_of_fresh_work(owner, broker, sweep):
    # A worker died holding this job: once its lease runs out it is sent ahead of the
    # backlog it was part of, so it runs again within seconds, not after the backlog.
    dead = queue_job(make_asset(owner))
    ProcessingJob.objects.claim(dead.pk)
    ProcessingJob.objects.filter(pk=dead.pk).update(leased_until=ago(1))
    fresh = queue_job(make_asset(owner), sent_at=None)

    sweep()

    priorities = {m["args"][0]: m["priority"] for m in broker.messages("thumbnails")}
    assert priorities == {fresh.pk: 3, dead.pk: 0}
