"""One work-queue mechanism for every kind of background work.

A queue is a table of WorkItem rows (media_processing.ProcessingJob,
jobs.Step). The rows are the source of truth: what is queued, leased to a
worker, done or failed, how often it was tried and why it failed. Celery only
carries ids, and a message is worth nothing more than "look at row N now".

    queued --claim()--> leased --complete()--> done
      ^                   |  \\--fail(permanent) or out of attempts--> failed
      |                   |
      +-- fail(transient): backoff, then the sweeper sends it again
      +-- the lease ran out (the worker died): the sweeper, or the next message

- claim: one conditional UPDATE, so of two deliveries of a message only one
  gets the row. It takes a lease of WORK_LEASE_SECONDS, which a LeaseKeeper
  thread renews every WORK_HEARTBEAT_SECONDS while the run goes on; a worker
  that dies stops renewing, and its row is taken back within seconds.
- A message that finds its row leased to a run whose lease is still running
  (Redis gave back the message of a worker that died, or a duplicate) comes
  back when the lease ends, instead of being dropped.
- Nothing is sent with a countdown. A row that must wait (a backoff, a paused
  queue, a provider at its limit) is queued with no message in flight
  (sent_at NULL) and an available_at in the future; the sweeper sends the due
  ones. So the broker holds one message per queued row, and the sweeper can
  tell from the broker's counts when messages were lost, even on a busy queue.
- Errors: an exception whose `permanent` attribute is true fails the row at
  once with its message; anything else is retried with exponential backoff
  until max_attempts. Unrecorded (work done but not written down: a paid
  request a provider took) leaves the row leased for the sweeper to decide,
  as if its worker had died there.

The sweeper (sweep(), every WORK_SWEEP_SECONDS from beat, on the `control`
queue that no backlog can hold up) takes back expired leases, fails rows out of
attempts, sends due rows that have no message, and re-sends lost messages.
Every change is a conditional UPDATE on rows taken with SKIP LOCKED, so two
sweepers or a sweeper and a worker never act twice on one row.

Each model says how it maps onto this with a WorkSpec and a few hooks
(on_claimed, on_requeued, on_failed, runnable, describe_error).
"""

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import NamedTuple

from celery.exceptions import Reject
from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from . import broker
from .outage import DatabaseUnavailable, drop_connections, is_outage, wait_for_database

logger = logging.getLogger(__name__)
MAX_ERROR = 500
# A row that runs again (its worker died, or it failed and waited out a backoff) is sent this
# many priority points ahead of fresh work, so it doesn't wait behind the backlog it was part
# of (kombu's Redis transport has priority steps 0, 3, 6 and 9; lower runs first). Fresh work
# therefore starts at 3 or more.
RERUN_BOOST = 3


@dataclass(frozen=True)
class WorkSpec:
    """How one model is a work queue: the task that runs a row by id, and which
    of its status values mean queued, leased, done and failed."""

    task: str
    queues: tuple
    queued: str = "queued"
    leased: str = "running"
    done: str = "completed"
    failed: str = "failed"
    backoff_setting: str = "WORK_BACKOFF_SECONDS"

    def backoff(self, attempt):
        """Wait before attempt `attempt` + 1: base, 4 x base, 16 x base, ..."""
        return getattr(settings, self.backoff_setting) * 4 ** max(attempt - 1, 0)


class Superseded(Exception):
    """This run no longer owns its row (its lease was taken back, or the row was
    cancelled): stop quietly, write nothing more."""


class Unrecorded(Exception):
    """The run did something it could not record (a provider took a paid request, then the database
    failed as the answer was written): nothing more is written, and the row is left leased, as if its
    worker had died at that moment. Handing it back would run it again as if nothing had happened; its
    lease runs out instead, and the sweeper asks the model what became of it (lease_ran_out())."""


class LeaseHeld(NamedTuple):
    """claim()'s answer when another run holds the row's lease: seconds it still
    runs, and where the row's messages go."""

    seconds: float
    ref: "Ref"


class Ref(NamedTuple):
    """Enough of a row to send its message (what send_many() reads)."""

    pk: int
    queue: str
    priority: int


class SweepResult(NamedTuple):
    expired: int  # leases that ran out: queued again
    failed: int  # out of attempts
    sent: int  # due rows that had no message in flight
    resent: int  # messages the broker lost, sent again

    def summary(self, name="sweep"):
        return (
            f"{name}: {self.expired} expired leases re-queued, {self.failed} failed for good, "
            f"{self.sent} due sent, {self.resent} lost messages re-sent"
        )


def is_permanent(exc):
    return bool(getattr(exc, "permanent", False))


def lease_until(now):
    return now + timedelta(seconds=settings.WORK_LEASE_SECONDS)


class WorkQueueQuerySet(models.QuerySet):
    @property
    def spec(self):
        return self.model.work

    # --- Overridable -------------------------------------------------------------

    def runnable(self, now):
        """The rows that may run now (a model narrows it: a paused queue, a provider at its limit)."""
        return self

    def for_run(self):
        """What a claimed row loads for its run (select_related of what the work reads)."""
        return self

    # --- Claim ---------------------------------------------------------------------

    def claim(self, pk, now=None, _retried=False):
        """The row `pk`, leased to this run; or None when it isn't this message's
        to run; or LeaseHeld when a lease that hasn't run out holds it."""
        now = now or timezone.now()
        spec = self.spec
        changes = {
            "status": spec.leased, "attempts": F("attempts") + 1, "run": F("run") + 1, "started_at": now,
            "heartbeat_at": now, "leased_until": lease_until(now), "sent_at": None,
        }  # fmt: skip
        if self.filter(pk=pk, status=spec.queued, available_at__lte=now).runnable(now).update(**changes):
            item = self.model.objects.for_run().get(pk=pk)
            item.on_claimed()
            return item
        row = self.filter(pk=pk).values("status", "leased_until", "queue", "priority").first()
        if row is None or row["status"] not in (spec.queued, spec.leased):
            return None  # gone, done, failed or cancelled: a duplicate or a late message
        if row["status"] == spec.leased:
            if row["leased_until"] and row["leased_until"] > now:
                return LeaseHeld((row["leased_until"] - now).total_seconds(), Ref(pk, row["queue"], row["priority"]))
            # The run that held it died and nobody took it back yet: do it here, and run it.
            self.filter(pk=pk).expire(now)
            return None if _retried else self.claim(pk, now, _retried=True)
        # Queued but not due, or not allowed to run yet: no message is in flight
        # for it any more, and the sweeper sends one when it may run.
        self.filter(pk=pk, status=spec.queued).update(sent_at=None)
        return None

    # --- Sweep ---------------------------------------------------------------------

    def sweep(self, now=None):
        """One pass of the sweeper over this queue; a SweepResult."""
        now = now or timezone.now()
        expired, failed = self.expire(now)
        failed += self.fail_exhausted(now)
        sent = self.dispatch(now)
        resent = self.resend_lost(now)
        return SweepResult(expired, failed, sent, resent)

    def expire(self, now=None):
        """(requeued, failed): rows whose lease ran out lost their worker; each is
        queued again with no message (dispatch() sends it), or failed on its last attempt."""
        now = now or timezone.now()
        spec = self.spec
        requeued = failed = 0
        with transaction.atomic():
            rows = (
                self.select_for_update(skip_locked=True, of=("self",))
                # A leased row without a lease (left by a version before leases) counts as run out.
                .filter(Q(leased_until__lt=now) | Q(leased_until__isnull=True), status=spec.leased)
                .order_by("leased_until")[: settings.WORK_SWEEP_LIMIT]
            )
            for item in rows:
                message = (
                    f"The worker stopped during attempt {item.attempts} of {item.max_attempts} "
                    f"(its lease ran out {_ago(now, item.leased_until)})."
                )
                outcome = item.lease_ran_out(message, now)
                requeued += outcome == "requeued"
                failed += outcome == "failed"
        return requeued, failed

    def fail_exhausted(self, now=None):
        """Queued rows already out of attempts (a person lowered max_attempts, say) fail."""
        now = now or timezone.now()
        failed = 0
        with transaction.atomic():
            rows = self.select_for_update(skip_locked=True, of=("self",)).filter(
                status=self.spec.queued, attempts__gte=F("max_attempts"), max_attempts__gt=0
            )[: settings.WORK_SWEEP_LIMIT]
            for item in rows:
                failed += item.give_up(item.error or f"Gave up after {item.attempts} attempts.", now)
        return failed

    def dispatch(self, now=None, limit=None):
        """Send the due rows that have no message in flight; the number sent.

        The rows are marked as sent first: a worker that receives a message
        before that commits waits for the row lock, then claims the row as usual.
        """
        now = now or timezone.now()
        cap = limit or settings.WORK_SWEEP_LIMIT
        order = ("priority", "available_at", "pk")
        with transaction.atomic():
            due = (
                self.select_for_update(skip_locked=True, of=("self",))
                .filter(status=self.spec.queued, sent_at__isnull=True, available_at__lte=now)
                .runnable(now)
            )
            # Rows that run again go first, as their messages do (RERUN_BOOST): a row
            # handed back from a dead run became due just now, and ordered by that time
            # it would wait behind every fresh row for a place (a provider's limit).
            rows = list(due.filter(attempts__gt=0).order_by(*order)[:cap])
            if len(rows) < cap:
                rows += due.filter(attempts=0).order_by(*order)[: cap - len(rows)]
            self.filter(pk__in=[item.pk for item in rows]).update(sent_at=now)
        return self.send_many(rows) if rows else 0

    def resend_lost(self, now=None):
        """Send again the messages the broker lost; the number re-sent.

        A queued row with sent_at set has one message in flight. When the broker
        holds fewer messages for a queue than that (Redis restarted without
        persistence, a purge), the difference was lost: the rows sent longest
        ago are sent again, busy queue or not. The broker is counted first and
        rows sent in the last WORK_RESEND_SECONDS are left out, so a message in
        transit is never taken for a lost one (the error can only be to re-send
        too few, which the next sweep makes up).
        """
        now = now or timezone.now()
        counts = broker.held(self.spec.queues)
        if counts is None:
            return 0
        settled = now - timedelta(seconds=settings.WORK_RESEND_SECONDS)
        in_flight = self.filter(status=self.spec.queued, sent_at__lt=settled)
        flying = dict(in_flight.order_by().values_list("queue").annotate(n=Count("pk")))
        lost = []
        for queue in self.spec.queues:
            missing = flying.get(queue, 0) - counts[queue].total
            if missing > 0:
                lost += list(in_flight.filter(queue=queue).order_by("sent_at", "pk")[: min(missing, settings.WORK_SWEEP_LIMIT)])
        if not lost:
            return 0
        logger.warning("%s: the broker lost %d messages; sending them again", self.model.__name__, len(lost))
        self.filter(pk__in=[item.pk for item in lost], status=self.spec.queued).update(sent_at=now)
        return self.send_many(lost)

    # --- Messages ------------------------------------------------------------------

    def send_on_commit(self, items):
        if items:
            transaction.on_commit(partial(self.model.objects.send_many, list(items)))

    def send_many(self, items, countdown=None):
        """Send the messages of `items` over one producer; the number sent. Never raises.

        At the first failure the rest are marked as having no message in flight
        (the sweeper sends them later) instead of each paying for a failed
        connect to a broker that is down.
        """
        sent = 0
        try:
            with broker.producer() as pooled:
                for item in items:
                    broker.publish(pooled, self.spec.task, [item.pk], item.queue, _priority(item), countdown)
                    sent += 1
        except Exception:  # noqa: BLE001 - any broker failure means "send later"
            logger.warning("could not send %d %s messages; the sweeper will", len(items) - sent, self.model.__name__, exc_info=True)
            unsent = [item.pk for item in items[sent:]]
            if countdown is None:
                self.filter(pk__in=unsent, status=self.spec.queued).update(sent_at=None)
        return sent


def _priority(item):
    """The message priority of `item`: its own, or RERUN_BOOST ahead when it runs again."""
    if getattr(item, "attempts", 0):
        return max(0, item.priority - RERUN_BOOST)
    return item.priority


def _ago(now, moment):
    return f"{(now - moment).total_seconds():.0f} s ago" if moment else "long ago"


class WorkItem(models.Model):
    """The fields and the row-level half of the mechanism. A subclass defines
    `work = WorkSpec(...)`, a `status`, `queue` and `priority` field, and a
    manager from WorkQueueQuerySet."""

    attempts = models.PositiveSmallIntegerField(default=0)
    # Which run holds the row: each claim counts one more, and nothing ever counts it back, so it names one run
    # for good (mine()). Not attempts: a person's retry sets those back to 0 for a fresh allowance, and defer()
    # hands one back, so a later run can have the attempt number of a stale one still going. A plain integer:
    # a positive one's CHECK would have every existing row scanned under lock when the column was added.
    run = models.IntegerField(default=0, db_default=0)
    # Database defaults too, so writers that name their columns (seed_demo's COPY) still work.
    max_attempts = models.PositiveSmallIntegerField(default=3, db_default=3)
    error = models.TextField(blank=True)
    # When the row may run (later than now while it waits out a backoff).
    available_at = models.DateTimeField(default=timezone.now, db_default=Now())
    # When the message now in flight was sent; NULL when none is: the sweeper sends one once available_at passes.
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The run that leased the row owns it until then; renewed while it works.
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    # --- Hooks -----------------------------------------------------------------------

    def on_claimed(self):
        """After a claim committed (show the work as started somewhere else)."""

    def on_requeued(self, message):
        """After a lost lease put the row back in the queue."""

    def on_failed(self, message):
        """After the row failed for good."""

    def describe_error(self, exc):
        """The message a person reads for an exception of a run."""
        return f"Unexpected error ({type(exc).__name__}): {exc}"

    def failed_fields(self, now):
        return {}

    def lease_ran_out(self, message, now):
        """The run holding the row died: queue it again, or fail it on its last attempt.
        A model whose runs can't simply be repeated says otherwise. "requeued", "failed" or ""."""
        if self.attempts >= self.max_attempts:
            return "failed" if self.give_up(message, now) else ""
        if self.mine().update(status=self.work.queued, error=message, available_at=now, sent_at=None, leased_until=None):
            self.status = self.work.queued
            self.on_requeued(message)
            return "requeued"
        return ""

    def done_fields(self, now):
        return {}

    # --- The run -----------------------------------------------------------------------

    def mine(self):
        """This row while this run still owns it. The run number fences a run in:
        once its lease was taken back, or the row was failed, cancelled or retried,
        and another run claimed it, the old run's writes (if it was merely slow)
        match nothing, whatever the attempt count says."""
        return type(self).objects.filter(pk=self.pk, status=self.work.leased, run=self.run)

    def renew_lease(self):
        """Extend the lease; False when the row is no longer this run's."""
        now = timezone.now()
        renewed = bool(self.mine().update(leased_until=lease_until(now), heartbeat_at=now))
        if renewed:
            self._renewed_at = now
        return renewed

    def checkpoint(self):
        """Called by the work between its steps: stop (Superseded) if the row is no
        longer this run's; renew the lease here when no LeaseKeeper does."""
        keeper = getattr(self, "_keeper", None)
        if keeper is not None and keeper.running:
            if keeper.lost:
                raise Superseded(f"{self} was taken back or cancelled")
            return
        last = getattr(self, "_renewed_at", None) or self.heartbeat_at
        if last and (timezone.now() - last).total_seconds() < settings.WORK_HEARTBEAT_SECONDS:
            return
        if not self.renew_lease():
            raise Superseded(f"{self} was taken back or cancelled")

    def complete(self, **fields):
        """Mark the run done; False when it was no longer this run's."""
        now = timezone.now()
        changes = {"status": self.work.done, "leased_until": None, "heartbeat_at": now, "error": ""}
        if not self.mine().update(**changes, **self.done_fields(now), **fields):
            return False
        self.status = self.work.done
        return True

    def fail(self, exc):
        """Record a failed run: permanent errors and the last attempt fail the row
        for good; others queue it again after a backoff. The delay, or None."""
        message = self.describe_error(exc)[:MAX_ERROR]
        now = timezone.now()
        if is_permanent(exc) or self.attempts >= self.max_attempts:
            self.give_up(message, now)
            return None
        delay = self.work.backoff(self.attempts)
        changes = {"error": message, "available_at": now + timedelta(seconds=delay), "sent_at": None, "leased_until": None}
        if not self.mine().update(status=self.work.queued, heartbeat_at=now, **changes):
            return None
        self.status = self.work.queued
        self.on_requeued(message)
        return delay

    def defer(self, seconds, note=""):
        """Hand the row back without counting the attempt (it couldn't start:
        a provider at its limit, the database gone mid-run); runs again in `seconds`."""
        now = timezone.now()
        changes = {
            "status": self.work.queued, "attempts": F("attempts") - 1, "available_at": now + timedelta(seconds=seconds),
            "sent_at": None, "leased_until": None,
        }  # fmt: skip
        if note:
            changes["error"] = note[:MAX_ERROR]
        done = bool(self.mine().update(**changes))
        if done:
            self.status = self.work.queued
        return done

    def give_up(self, message, now):
        """Fail for good: nothing queues the row again until a person retries it. 1 or 0."""
        done = type(self).objects.filter(pk=self.pk, status=self.status, run=self.run).update(
            status=self.work.failed, error=message, leased_until=None, heartbeat_at=now, **self.failed_fields(now)
        )
        if not done:
            return 0
        self.status, self.error = self.work.failed, message
        self.on_failed(message)
        return 1


class LeaseKeeper:
    """Renews a claimed row's lease from a thread while the run goes on, so a
    long decode or download keeps its row, and a dead worker loses it within
    WORK_LEASE_SECONDS. The thread has its own database connection; it notes a
    lost lease, and the run's next checkpoint() stops it.

    WORK_LEASE_KEEPER=0 turns the thread off (tests that run tasks inside the
    test's own transaction, which another connection can't see); checkpoint()
    then renews inline.
    """

    def __init__(self, item):
        self.item = item
        self.lost = False
        self.running = False
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if settings.WORK_LEASE_KEEPER:
            self.item._keeper = self
            self.running = True
            self._thread = threading.Thread(target=self._run, name=f"lease-{self.item.pk}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=settings.WORK_HEARTBEAT_SECONDS + 5)
        self.running = False
        self.item._keeper = None
        return False

    def _run(self):
        try:
            while not self._stop.wait(settings.WORK_HEARTBEAT_SECONDS):
                try:
                    if not self.item.renew_lease():
                        self.lost = True
                        return
                except DatabaseError as exc:
                    # The lease may run out during an outage; the sweeper then decides, and
                    # the run's own writes, fenced by its run number, find out.
                    logger.warning("could not renew the lease of %s: %s", self.item, exc)
                    drop_connections()
        finally:
            drop_connections()


def run_task(model, pk, work):
    """The body of a work queue's Celery task: claim row `pk` of `model`, run
    `work(item)` with its lease kept, and record a failure. `work` completes the
    row itself (item.complete(...)) when it succeeds, and may return a word for
    the log (else the row's status is returned).

    With the database unreachable the message is handed back to the broker
    (Reject with requeue) after waiting up to WORK_DB_WAIT_SECONDS, never
    acknowledged: so the queue can't be emptied by an outage, and it isn't spun
    through either, since each worker slot waits before handing its message back.
    """
    try:
        claimed = wait_for_database(lambda: model.objects.claim(pk))
    except DatabaseUnavailable as exc:
        raise Reject(f"database unavailable: {exc}", requeue=True) from None
    if claimed is None:
        return "skipped"
    if isinstance(claimed, LeaseHeld):
        # Another run holds the row. If it is alive this message is a duplicate
        # and will find the row done; if it died (Redis gave back its message),
        # the row must run as soon as the lease ends: come back then.
        model.objects.send_many([claimed.ref], countdown=claimed.seconds + 1)
        return "waiting for the lease"
    with LeaseKeeper(claimed):
        try:
            outcome = work(claimed)
        except Superseded:
            # Cancelled by a person, or taken back from a run thought dead: say which.
            now = type(claimed).objects.filter(pk=pk).values_list("status", flat=True).first()
            return now if now and now != claimed.work.leased else "superseded"
        except Unrecorded as exc:
            logger.error("%s: %s; left to the sweeper once its lease runs out", claimed, exc, exc_info=exc.__cause__)
            return "left to the sweeper"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on its row
            return _record_failure(claimed, exc)
    return outcome or claimed.status


def _record_failure(item, exc):
    if is_outage(exc):
        # Not the work's fault: hand it back once the database answers, with the attempt not counted.
        logger.warning("%s: the database went away during the run: %s", item, exc)
        try:
            wait_for_database(lambda: item.defer(settings.WORK_BACKOFF_SECONDS, "Interrupted by a database outage."))
        except DatabaseUnavailable:
            raise Reject("database unavailable", requeue=True) from None
        return "deferred"
    if is_permanent(exc) or getattr(exc, "expected", False):
        # Its message says it all (a refused destination, an endpoint down): no traceback to read.
        logger.warning("%s failed: %s", item, exc)
    else:
        logger.exception("%s failed", item)
    try:
        wait_for_database(lambda: item.fail(exc))
    except DatabaseUnavailable:
        raise Reject("database unavailable", requeue=True) from None
    return "failed"


def pause_for_tests(item):
    """Hold a run at its worst moment to die (its work done, not yet recorded).

    Only the real-worker tests set I2V_TEST_TASK_DELAY (seconds), in the
    environment of the workers they start; unset, which it always is outside
    them, this does nothing.
    """
    delay = float(os.environ.get("I2V_TEST_TASK_DELAY") or 0)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        time.sleep(0.2)
        item.checkpoint()
