import logging
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import NamedTuple

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, Value, When
from django.utils import timezone

from i2v.lib.cache import bump_on_commit

from .errors import Superseded, is_systemic, readable

logger = logging.getLogger(__name__)

TASK_NAME = "media_processing.tasks.run_job"
THUMBNAIL_SIZES = ("150", "300", "600")
VARIANT_SIZES = ("1080", "2160")
# Asset statuses and kinds (library.models imports this module, so Asset is looked up lazily).
COMPLETE, FAILED, PENDING, PROCESSING = "complete", "failed", "pending", "processing"
IMAGE, VIDEO = "image", "video"


def asset_model():
    return apps.get_model("library", "Asset")


class Queue(models.TextChoices):
    # Separate Celery queues, so a backfill of 100,000 never starves a fresh upload.
    THUMBNAILS = "thumbnails"
    VARIANTS = "variants"
    BACKFILL = "backfill"


def backoff_seconds(attempt):
    """Wait before attempt `attempt` + 1: 10 s, 40 s, 160 s, ... by default."""
    return settings.PROCESSING_BACKOFF_SECONDS * 4 ** (attempt - 1)


def has_all(asset, sizes):
    return all(size in (asset.renditions or {}) for size in sizes)


def missing_work(asset):
    """The job kinds an asset still needs, judged by the renditions it records."""
    if asset.is_remote:
        return [ProcessingJob.Kind.FETCH]  # imported as a URL: its bytes first (library/remote.py)
    kinds = []
    if not has_all(asset, THUMBNAIL_SIZES):
        kinds.append(ProcessingJob.Kind.POSTER if asset.kind == VIDEO else ProcessingJob.Kind.THUMBNAILS)
    if asset.kind == IMAGE and not has_all(asset, VARIANT_SIZES):
        kinds.append(ProcessingJob.Kind.VARIANTS)
    return kinds


def all_work(asset):
    if asset.is_remote:
        return [ProcessingJob.Kind.FETCH]
    if asset.kind == VIDEO:
        return [ProcessingJob.Kind.POSTER]
    return [ProcessingJob.Kind.THUMBNAILS, ProcessingJob.Kind.VARIANTS]


def update_asset(asset, **fields):
    """Write fields of an asset that a worker or a retry changed, and make its
    owner's cached lists (Library, and Jobs for generated outputs) rebuild."""
    asset_model().objects.filter(pk=asset.pk).update(**fields)
    bump_on_commit("library", asset.owner_id)
    if asset.source == "generated":
        bump_on_commit("jobs", asset.owner_id)


def record_on_asset(asset, renditions=None, **fields):
    """Save a job's results on its asset.

    Renditions are merged into what the row holds now, under a row lock: the
    thumbnails and the variants job of one asset may finish at the same moment
    on two workers, and neither may drop the other's entries. (SQLite takes its
    write lock when the transaction starts, which serialises the same way.)
    """
    with transaction.atomic():
        if renditions:
            current = asset_model().objects.select_for_update().values_list("renditions", flat=True).get(pk=asset.pk)
            fields["renditions"] = {**(current or {}), **renditions}
        update_asset(asset, **fields)
    for name, value in fields.items():
        setattr(asset, name, value)


@contextmanager
def producer():
    """A Celery producer on a pooled broker connection that was tried once.

    kombu's default is to retry a broker connection for seconds before giving
    up; an upload whose job can't be sent must not wait out a broker outage
    (the sweeper sends the message later). Queues are declared per message,
    so the producer itself declares nothing.
    """
    app = current_app
    with app.pool.acquire(block=True, timeout=app.conf.broker_pool_acquire_timeout) as conn:
        conn.ensure_connection(max_retries=0)
        yield app.amqp.Producer(conn, auto_declare=False)


def broker_queue_sizes(queues):
    """Messages waiting in each broker queue, or None when the broker can't be reached."""
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)
            channel = conn.default_channel
            return {queue: channel.queue_declare(queue=queue).message_count for queue in queues}
    except Exception:  # noqa: BLE001 - broker down: nothing can be re-sent anyway
        logger.warning("could not reach the broker; no messages re-sent this time", exc_info=True)
        return None


class AlreadyQueued(Exception):
    """The asset has work queued or running: a retry now would run it twice."""


class SweepResult(NamedTuple):
    requeued: int
    failed: int
    resent: int

    def summary(self):
        return (
            f"sweep: {self.requeued} stale jobs re-queued, {self.failed} failed for good, "
            f"{self.resent} messages re-sent"
        )


class ProcessingJobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=ProcessingJob.ACTIVE)

    def schedule(self, asset, kind, queue, force=False):
        """Create a queued job for `asset` and send its message once the
        transaction commits (a rolled-back upload sends nothing).

        The row is the source of truth; if the broker is down the message is
        lost, the row stays queued, and the sweeper sends it again later.
        """
        job = self.create(
            asset=asset, kind=kind, queue=queue, priority=ProcessingJob.PRIORITIES[queue], force=force,
            sent_at=timezone.now(),
        )  # fmt: skip
        transaction.on_commit(job.send)
        return job

    def schedule_upload(self, asset):
        """A fresh upload: thumbnails first (or a poster for a video), then variants."""
        first = ProcessingJob.Kind.POSTER if asset.kind == "video" else ProcessingJob.Kind.THUMBNAILS
        jobs = [self.schedule(asset, first, ProcessingJob.Queue.THUMBNAILS)]
        if asset.kind == "image":
            jobs.append(self.schedule(asset, ProcessingJob.Kind.VARIANTS, ProcessingJob.Queue.VARIANTS))
        return jobs

    def claim(self, job_id):
        """Take job `job_id` for this worker, or None when it isn't this message's to run.

        One conditional UPDATE, so of two deliveries of the same message only
        one gets the job; the other finds nothing and returns. A job that is
        queued but may not run yet (its backoff hasn't passed, or its queue is
        paused by the circuit breaker) is left queued with no message in
        flight, and the sweeper sends it again when it may run.
        """
        now = timezone.now()
        paused = QueueState.objects.paused(now).filter(queue=OuterRef("queue"))
        claimed = (
            self.filter(pk=job_id, status=ProcessingJob.Status.QUEUED, available_at__lte=now)
            .filter(~Exists(paused))
            .update(
                status=ProcessingJob.Status.PROCESSING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now,
                sent_at=None,
            )
        )  # fmt: skip
        if not claimed:
            self.filter(pk=job_id, status=ProcessingJob.Status.QUEUED).update(sent_at=None)
            return None
        job = self.select_related("asset").get(pk=job_id)
        job.mark_started()
        return job

    def send_many(self, jobs):
        """Send the messages of `jobs` over one producer; the number sent.

        At the first failure the rest are marked as having no message in
        flight (the sweeper sends them later) instead of each paying for a
        failed connect to a broker that is down.
        """
        sent = 0
        try:
            with producer() as pooled:
                for job in jobs:
                    job.publish(pooled)
                    sent += 1
        except Exception:  # noqa: BLE001 - any broker failure means "send later"
            logger.warning("could not send %d processing jobs; the sweeper will retry", len(jobs) - sent, exc_info=True)
            unsent = [job.pk for job in jobs[sent:]]
            self.filter(pk__in=unsent, status=ProcessingJob.Status.QUEUED).update(sent_at=None)
        return sent

    def sweep(self, now=None, stale_after=None, resend_after=None):
        """One pass of the sweeper (Celery beat runs it every minute).

        - processing jobs whose heartbeat is older than `stale_after` seconds
          lost their worker: re-queued, or failed once out of attempts;
        - queued jobs already out of attempts are failed;
        - queued jobs whose message is lost are sent again: those with none in
          flight (the broker was down, or the message arrived while the job
          could not run), and those sent over `resend_after` seconds ago while
          their broker queue is empty. Jobs waiting behind a long backlog are
          left alone: re-sending them would only pile duplicates on it.

        Safe to run concurrently: rows are taken with SELECT ... FOR UPDATE
        SKIP LOCKED on PostgreSQL, and every change is a conditional UPDATE, so
        two sweepers never re-queue the same job twice.
        """
        now = now or timezone.now()
        stale_after = settings.PROCESSING_STALE_SECONDS if stale_after is None else stale_after
        resend_after = settings.PROCESSING_RESEND_SECONDS if resend_after is None else resend_after
        requeued, failed = self._requeue_stale(now, stale_after)
        failed += self._fail_exhausted(now)
        resent = self._resend_lost(now, now - timedelta(seconds=resend_after))
        return SweepResult(requeued, failed, resent)

    def _requeue_stale(self, now, stale_after):
        cutoff = now - timedelta(seconds=stale_after)
        requeued, failed = [], 0
        with transaction.atomic():
            # Only the job rows are locked (of=self), not the assets joined in.
            stale = (
                self.select_for_update(skip_locked=True, of=("self",))
                .select_related("asset")
                .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
                .filter(status=ProcessingJob.Status.PROCESSING)
                .order_by("heartbeat_at")[: settings.PROCESSING_SWEEP_LIMIT]
            )
            for job in stale:
                message = (
                    f"The worker stopped during attempt {job.attempts} of {job.max_attempts} "
                    f"(no heartbeat for over {stale_after} s)."
                )
                if job.attempts >= job.max_attempts:
                    failed += job.give_up(message, now)
                    continue
                if job.mine().update(status=ProcessingJob.Status.QUEUED, error=message, available_at=now, sent_at=now):
                    update_asset(job.asset, last_error=message)
                    requeued.append(job)
            transaction.on_commit(partial(self.send_many, requeued))
        return len(requeued), failed

    def _fail_exhausted(self, now):
        failed = 0
        with transaction.atomic():
            exhausted = (
                self.select_for_update(skip_locked=True, of=("self",))
                .select_related("asset")
                .filter(status=ProcessingJob.Status.QUEUED, attempts__gte=F("max_attempts"))
            )[: settings.PROCESSING_SWEEP_LIMIT]
            for job in exhausted:
                failed += job.give_up(job.error or f"Gave up after {job.attempts} attempts.", now)
        return failed

    def _resend_lost(self, now, cutoff):
        paused = set(QueueState.objects.paused(now).values_list("queue", flat=True))
        runnable = [queue for queue in Queue.values if queue not in paused]
        sizes = broker_queue_sizes(runnable)
        if sizes is None:
            return 0
        idle = [queue for queue, size in sizes.items() if size == 0]
        lost = Q(sent_at__isnull=True) | Q(queue__in=idle, sent_at__lt=cutoff)
        with transaction.atomic():
            jobs = list(
                self.select_for_update(skip_locked=True)
                .filter(lost, status=ProcessingJob.Status.QUEUED, queue__in=runnable, available_at__lte=now)
                .filter(attempts__lt=F("max_attempts"))
                .order_by("priority", "created_at")[: settings.PROCESSING_SWEEP_LIMIT]
            )
            self.filter(pk__in=[job.pk for job in jobs]).update(sent_at=now)
            transaction.on_commit(partial(self.send_many, jobs))
        return len(jobs)

    def queue_status(self, now=None, recent=10):
        """The figures of the admin queue page and GET /api/admin/processing-queue."""
        now = now or timezone.now()
        statuses = ("queued", "processing", "failed")
        totals = dict.fromkeys(statuses, 0)
        by_kind = {kind: dict.fromkeys(statuses, 0) for kind in ProcessingJob.Kind.values}
        by_queue = {queue: dict.fromkeys(statuses, 0) for queue in Queue.values}
        # One grouped count over the (status, priority, created_at) index's statuses.
        rows = self.filter(status__in=statuses).values_list("status", "queue", "kind").annotate(n=Count("id"))
        rows = rows.order_by()
        for status, queue, kind, n in rows:
            totals[status] += n
            by_kind[kind][status] += n
            by_queue[queue][status] += n
        oldest = self.filter(status=ProcessingJob.Status.QUEUED).aggregate(oldest=Min("created_at"))["oldest"]
        states = {state.queue: state for state in QueueState.objects.all()}
        for queue, counts in by_queue.items():
            counts.update(QueueState.as_json(states.get(queue), now))
        failures = self.filter(status=ProcessingJob.Status.FAILED).order_by("-failed_at", "-id")[:recent]
        return {
            "queue_size": totals["queued"],
            "processing_count": totals["processing"],
            "failed_count": totals["failed"],
            "oldest_job_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
            "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "by_queue": {q: dict(v) for q, v in by_queue.items()},
            "paused_queues": [queue for queue, counts in by_queue.items() if counts["paused"]],
            "recent_failures": [job.as_json() for job in failures],
        }

    def retry(self, asset):
        """Queue an asset's failed or missing work again at normal priority; the jobs queued.

        A person asked, so each job starts over with a full set of attempts.
        Raises AlreadyQueued when some of the asset's work is queued or running.
        """
        with transaction.atomic():
            # The asset's row lock makes two simultaneous retries queue the work once.
            asset = asset_model().objects.select_for_update().get(pk=asset.pk)
            if self.filter(asset=asset).active().exists():
                raise AlreadyQueued
            jobs = []
            for kind in missing_work(asset):
                failed = self.filter(asset=asset, kind=kind, status=ProcessingJob.Status.FAILED)
                job = failed.order_by("-created_at").first()
                if job is None or not job.requeue():
                    job = self.schedule(asset, kind, ProcessingJob.queue_for(kind))
                    job.mark_asset_pending()
                jobs.append(job)
        return jobs

    def backfill(self, assets, force=False, batch=500, progress=None, send=True):
        """Queue the work `assets` need on the backfill queue, `batch` assets per
        transaction in id order; returns (assets queued, jobs queued).

        With send=False no message leaves now: the jobs wait with none in
        flight and the sweeper sends them, PROCESSING_SWEEP_LIMIT a minute in
        priority order (import_i2v queues hundreds of thousands this way
        without flooding the broker).

        Without force only missing work is queued; with it, everything is redone.
        `assets` should leave out those with work queued or running (see
        assets_to_backfill()), which makes a second run, or a run after an
        interrupted one, skip what is already on its way.
        """
        last_id, queued_assets, queued_jobs = 0, 0, 0
        while True:
            chunk = list(assets.filter(pk__gt=last_id).order_by("pk").only("id", "kind", "renditions", "original", "remote_url")[:batch])
            if not chunk:
                return queued_assets, queued_jobs
            now = timezone.now()
            jobs = [
                ProcessingJob(
                    asset=asset, kind=kind, queue=Queue.BACKFILL, priority=ProcessingJob.PRIORITIES[Queue.BACKFILL],
                    force=force, sent_at=now if send else None,
                )
                for asset in chunk
                for kind in (all_work(asset) if force else missing_work(asset))
            ]  # fmt: skip
            with transaction.atomic():
                created = self.bulk_create(jobs)
                if send:
                    transaction.on_commit(partial(self.send_many, created))
            queued_assets += len({job.asset_id for job in created})
            queued_jobs += len(created)
            last_id = chunk[-1].pk
            if progress:
                progress(len(chunk))


def assets_to_backfill(missing=True, kind=None):
    """Assets a backfill should visit: those with no work queued or running,
    and with `missing`, only those whose renditions are incomplete."""
    active = ProcessingJob.objects.active().filter(asset=OuterRef("pk"))
    assets = asset_model().objects.filter(~Exists(active))
    if kind:
        assets = assets.filter(kind=kind)
    if missing:
        complete = Q(renditions__has_keys=THUMBNAIL_SIZES) & (Q(kind=VIDEO) | Q(renditions__has_keys=VARIANT_SIZES))
        assets = assets.exclude(complete)
    return assets


class ProcessingJob(models.Model):
    """One unit of background media work. Celery only carries messages; this row
    says what is queued, running, done or failed, and how often it was tried."""

    class Kind(models.TextChoices):
        THUMBNAILS = "thumbnails"
        VARIANTS = "variants"
        POSTER = "poster"
        FETCH = "fetch"  # an imported remote original, downloaded (library/remote.py)

    Queue = Queue

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.PROCESSING)
    # Lower runs sooner, within a queue and when the sweeper re-sends.
    PRIORITIES = {Queue.THUMBNAILS: 0, Queue.VARIANTS: 5, Queue.BACKFILL: 9}

    asset = models.ForeignKey("library.Asset", on_delete=models.CASCADE, related_name="processing_jobs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    queue = models.CharField(max_length=12, choices=Queue.choices, default=Queue.THUMBNAILS)
    priority = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    # Redo the work even where the asset records it as done (backfill --all).
    force = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the job may run next (exponential backoff after a failure).
    available_at = models.DateTimeField(default=timezone.now)
    # When the message now in flight was sent; NULL when none is (the broker
    # was down, or the message came while the job could not run): the sweeper
    # sends one.
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = ProcessingJobQuerySet.as_manager()

    class Meta:
        indexes = [
            # Queue order and the sweeper: status=? ORDER BY priority, created_at
            models.Index(fields=["status", "priority", "created_at"], name="pjob_status_priority"),
            # An asset's jobs (processing-status API, retry): asset_id=? ORDER BY created_at
            models.Index(fields=["asset", "created_at"], name="pjob_asset_created"),
            # Sweeper, jobs with no message in flight:
            # status='queued' AND sent_at IS NULL ORDER BY priority, created_at
            models.Index(
                fields=["priority", "created_at"],
                condition=Q(status="queued", sent_at__isnull=True),
                name="pjob_unsent",
            ),
            # Queue status, recent failures: status='failed' ORDER BY failed_at DESC
            models.Index(fields=["-failed_at"], condition=Q(status="failed"), name="pjob_recent_failures"),
        ]

    def __str__(self):
        return f"{self.kind} of asset {self.asset_id} ({self.status})"

    @staticmethod
    def queue_for(kind):
        """The normal-priority queue of a kind of work (backfill is chosen explicitly)."""
        return Queue.VARIANTS if kind == ProcessingJob.Kind.VARIANTS else Queue.THUMBNAILS

    def publish(self, pooled, countdown=None):
        """Send this job's Celery message (by name: the task lives in tasks.py)."""
        # No publish retries: with the broker down the caller learns at once,
        # and the sweeper sends the message later.
        current_app.send_task(
            TASK_NAME, args=[self.pk], queue=self.queue, priority=self.priority, countdown=countdown,
            producer=pooled, retry=False,
        )  # fmt: skip

    def send(self, countdown=None):
        """Send this job's message; never raises.

        With the broker down the request that scheduled the job must still
        succeed: the row is marked as having no message in flight, and the
        sweeper sends one later.
        """
        try:
            with producer() as pooled:
                self.publish(pooled, countdown=countdown)
        except Exception:  # noqa: BLE001 - any broker failure means "send later"
            logger.warning("could not send processing job %s; the sweeper will retry", self.pk, exc_info=True)
            ProcessingJob.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(sent_at=None)

    def mine(self):
        """This job's row while this run still owns it.

        The attempt number fences the run in: once the sweeper re-queues a
        job whose worker seemed dead, and another worker claims it, the old
        run's writes (if it was merely slow) match nothing.
        """
        return ProcessingJob.objects.filter(pk=self.pk, status=self.Status.PROCESSING, attempts=self.attempts)

    def mark_started(self):
        """Show the asset as processing (unless this part of it is already complete)."""
        if self.kind == self.Kind.VARIANTS:
            changes = {"variant_status": _unless_complete("variant_status", "variant_status")}
        else:
            changes = {
                "thumbnail_status": _unless_complete("thumbnail_status", "thumbnail_status"),
                "processing_status": _unless_complete("thumbnail_status", "processing_status"),
            }
        update_asset(self.asset, attempts=F("attempts") + 1, **changes)

    def heartbeat(self, force=False):
        """Tell the sweeper this run is alive; at most every PROCESSING_HEARTBEAT_SECONDS.

        Raises Superseded when the job is no longer this run's.
        """
        now = timezone.now()
        last = getattr(self, "_beat_at", None) or self.heartbeat_at
        if not force and last and (now - last).total_seconds() < settings.PROCESSING_HEARTBEAT_SECONDS:
            return
        if not self.mine().update(heartbeat_at=now):
            raise Superseded(f"job {self.pk} was taken over")
        self._beat_at = now

    def complete(self):
        now = timezone.now()
        if not self.mine().update(status=self.Status.COMPLETED, completed_at=now, heartbeat_at=now, error=""):
            return False
        QueueState.objects.record_success(self.queue)
        # The asset's error is about a failure that is now behind it, unless
        # another of its jobs is still failed.
        failed = ProcessingJob.objects.filter(asset_id=self.asset_id, status=self.Status.FAILED)
        if self.asset.last_error and not failed.exists():
            update_asset(self.asset, last_error="")
        self.status = self.Status.COMPLETED
        return True

    def fail_attempt(self, exc):
        """Record a failed attempt: retry later with exponential backoff, or fail
        for good after max_attempts. Returns the delay in seconds, or None."""
        message = readable(exc)
        now = timezone.now()
        if self.attempts >= self.max_attempts:
            if self.give_up(message, now) and is_systemic(exc):
                QueueState.objects.record_failure(self.queue, message)
            return None
        delay = backoff_seconds(self.attempts)
        with transaction.atomic():
            changes = {"error": message, "available_at": now + timedelta(seconds=delay), "sent_at": now}
            if not self.mine().update(status=self.Status.QUEUED, heartbeat_at=now, **changes):
                return None
            update_asset(self.asset, last_error=message)
        if is_systemic(exc):
            QueueState.objects.record_failure(self.queue, message)
        self.status = self.Status.QUEUED
        self.send(countdown=delay)
        return delay

    def give_up(self, message, now):
        """Fail for good: nothing re-queues the job until a person retries it."""
        status = self.status  # processing (a run's last attempt) or queued (the sweeper)
        done = ProcessingJob.objects.filter(pk=self.pk, status=status, attempts=self.attempts).update(
            status=self.Status.FAILED, error=message, failed_at=now, heartbeat_at=now
        )
        if not done:
            return 0
        if self.kind == self.Kind.VARIANTS:
            # A usable thumbnail stays usable: processing_status is left alone.
            update_asset(self.asset, variant_status=FAILED, last_error=message)
        else:
            update_asset(self.asset, thumbnail_status=FAILED, processing_status=FAILED, last_error=message)
        self.status, self.error = self.Status.FAILED, message
        return 1

    def requeue(self):
        """A person retries a failed job: its normal queue, a full set of attempts."""
        queue = self.queue_for(self.kind)
        now = timezone.now()
        fresh = {
            "status": self.Status.QUEUED, "queue": queue, "priority": self.PRIORITIES[queue], "attempts": 0,
            "error": "", "available_at": now, "sent_at": now, "started_at": None, "heartbeat_at": None,
            "completed_at": None, "failed_at": None,
        }  # fmt: skip
        if not ProcessingJob.objects.filter(pk=self.pk, status=self.Status.FAILED).update(**fresh):
            return False
        for name, value in fresh.items():
            setattr(self, name, value)
        self.mark_asset_pending()
        transaction.on_commit(self.send)
        return True

    def mark_asset_pending(self):
        if self.kind == self.Kind.VARIANTS:
            update_asset(self.asset, variant_status=PENDING, last_error="")
        else:
            update_asset(self.asset, thumbnail_status=PENDING, processing_status=PENDING, last_error="")

    def as_json(self):
        return {
            "id": self.pk, "asset_id": self.asset_id, "kind": self.kind, "queue": self.queue, "status": self.status,
            "attempts": self.attempts, "max_attempts": self.max_attempts, "error": self.error or None,
            "created_at": self.created_at, "available_at": self.available_at, "started_at": self.started_at,
            "completed_at": self.completed_at, "failed_at": self.failed_at,
        }  # fmt: skip


def _unless_complete(status_field, field):
    # In SQL, so a concurrent job that just completed this part isn't overwritten.
    return Case(When(**{status_field: COMPLETE}, then=F(field)), default=Value(PROCESSING))


class QueueStateQuerySet(models.QuerySet):
    def paused(self, now=None):
        return self.filter(paused_until__gt=now or timezone.now())

    def record_failure(self, queue, message):
        """Count a failure of the queue's infrastructure; the Nth in a row pauses it.

        After the cool-off the count is still at N or more, so the next failure
        pauses it again at once, and the first success closes the breaker.
        """
        now = timezone.now()
        with transaction.atomic():
            state, _ = self.select_for_update().get_or_create(queue=queue)
            state.consecutive_failures += 1
            state.last_error = message
            if state.consecutive_failures >= settings.PROCESSING_BREAKER_FAILURES and not state.is_paused(now):
                state.paused_until = now + timedelta(seconds=settings.PROCESSING_BREAKER_COOLOFF_SECONDS)
                logger.error(
                    "queue %s paused until %s after %d failures in a row: %s",
                    queue, state.paused_until, state.consecutive_failures, message,
                )  # fmt: skip
            state.save()
        return state

    def record_success(self, queue):
        # Written only when there is something to reset: a success is the common
        # case and must not make every job write to one hot row.
        self.filter(queue=queue, consecutive_failures__gt=0).update(consecutive_failures=0, paused_until=None)

    def resume(self, queue):
        """A person ends a pause early; the sweeper then sends the queue's parked jobs."""
        return self.filter(queue=queue).update(consecutive_failures=0, paused_until=None)


class QueueState(models.Model):
    """The circuit breaker of one queue; no row means closed with no failures.

    The database is its source of truth, shared by every worker and the admin.
    While paused, the queue's jobs stay queued: a worker receiving one leaves it
    untouched, and the sweeper sends it again once the pause is over.
    """

    queue = models.CharField(max_length=12, choices=Queue.choices, primary_key=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = QueueStateQuerySet.as_manager()

    class Meta:
        verbose_name = "queue"
        verbose_name_plural = "queue status"

    def __str__(self):
        return self.queue

    def is_paused(self, now=None):
        return bool(self.paused_until and self.paused_until > (now or timezone.now()))

    @staticmethod
    def as_json(state, now):
        paused = bool(state and state.is_paused(now))
        return {
            "paused": paused,
            "paused_until": state.paused_until if paused else None,
            "consecutive_failures": state.consecutive_failures if state else 0,
        }
