import logging
from datetime import timedelta
from functools import partial

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, Value, When
from django.utils import timezone

from i2v.lib.cache import bump_on_commit
from i2v.lib.workqueue import Superseded, WorkItem, WorkQueueQuerySet, WorkSpec

from .errors import is_systemic, readable
from .events import asset_processed

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


def prompt_work(asset):
    """The jobs that read an upload's prompt from its file: its thumbnails job, which does only
    that where the renditions exist (work._finish_thumbnails()), and any other work it misses."""
    kinds = missing_work(asset)
    return kinds if ProcessingJob.Kind.THUMBNAILS in kinds else [ProcessingJob.Kind.THUMBNAILS, *kinds]


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


def record_on_asset(asset, renditions=None, blank_only=None, **fields):
    """Save a job's results on its asset.

    Renditions are merged into what the row holds now, under a row lock: the
    thumbnails and the variants job of one asset may finish at the same moment
    on two workers, and neither may drop the other's entries. (SQLite takes its
    write lock when the transaction starts, which serialises the same way.)
    `blank_only` ({field: text}) is written, in the same statement, only where the
    row's field is still blank: a prompt read from an upload's file never replaces
    one set while the job ran.
    """
    kept = {
        name: Case(When(**{name: ""}, then=Value(text)), default=F(name), output_field=asset_model()._meta.get_field(name))
        for name, text in (blank_only or {}).items()
    }
    fields.update(kept)
    gone = False
    with transaction.atomic():
        if renditions:
            row = asset_model().objects.select_for_update().filter(pk=asset.pk).values_list("pk", "renditions").first()
            gone = row is None
            if not gone:
                fields["renditions"] = {**(row[1] or {}), **renditions}
        if not gone:
            update_asset(asset, **fields)
    if gone:
        _gone(renditions)  # once the transaction is over: its burial must not be rolled back with it
    for name, value in fields.items():
        if name not in kept:
            setattr(asset, name, value)
    for name, text in (blank_only or {}).items():
        setattr(asset, name, getattr(asset, name) or text)


def _gone(renditions):
    """The asset was deleted while its job ran: the files this run made go to the collector, as its others
    did, and the run stops as a cancelled one does (its job row went with the asset)."""
    from library.models import stored_names  # library.models imports this module

    apps.get_model("library", "Tombstone").objects.bury(stored_names("", renditions))
    raise Superseded("the asset was deleted while it was processed")


class AlreadyQueued(Exception):
    """The asset has work queued or running: a retry now would run it twice."""


class ProcessingJobQuerySet(WorkQueueQuerySet):
    def active(self):
        return self.filter(status__in=ProcessingJob.ACTIVE)

    def runnable(self, now):
        # A queue paused by its circuit breaker keeps its jobs queued until the pause ends.
        return self.filter(~Exists(QueueState.objects.paused(now).filter(queue=OuterRef("queue"))))

    def for_run(self):
        return self.select_related("asset")

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
        self.send_on_commit([job])
        return job

    def schedule_upload(self, asset):
        """A fresh upload: thumbnails first (or a poster for a video), then variants."""
        first = ProcessingJob.Kind.POSTER if asset.kind == "video" else ProcessingJob.Kind.THUMBNAILS
        jobs = [self.schedule(asset, first, ProcessingJob.Queue.THUMBNAILS)]
        if asset.kind == "image":
            jobs.append(self.schedule(asset, ProcessingJob.Kind.VARIANTS, ProcessingJob.Queue.VARIANTS))
        return jobs

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

    def backfill(self, assets, force=False, batch=500, progress=None, send=True, work=None):
        """Queue the work `assets` need on the backfill queue, `batch` assets per
        transaction in id order; returns (assets queued, jobs queued).

        With send=False no message leaves now: the jobs wait with none in
        flight and the sweeper sends them, PROCESSING_SWEEP_LIMIT a minute in
        priority order (import_i2v queues hundreds of thousands this way
        without flooding the broker).

        Without force only missing work is queued; with it, everything is redone;
        `work` (asset -> job kinds) says otherwise.
        `assets` should leave out those with work queued or running (see
        assets_to_backfill()), which makes a second run, or a run after an
        interrupted one, skip what is already on its way.
        """
        last_id, queued_assets, queued_jobs = 0, 0, 0
        work = work or (all_work if force else missing_work)
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
                for kind in work(asset)
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


def uploads_without_prompt():
    """Uploaded images, stored here, with no prompt and no work queued or running: those whose
    files may carry one that uploads before it was read (work._prompt_in_file()) never got."""
    return assets_to_backfill(missing=False, kind=IMAGE).filter(source="upload", prompt="").exclude(original="")


class ProcessingJob(WorkItem):
    """One unit of background media work, on the shared work-queue mechanism
    (i2v/lib/workqueue.py): Celery only carries messages; this row says what is
    queued, running, done or failed, and how often it was tried."""

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

    work = WorkSpec(
        task=TASK_NAME, queues=tuple(Queue.values), leased=Status.PROCESSING, backoff_setting="PROCESSING_BACKOFF_SECONDS"
    )
    ACTIVE = (Status.QUEUED, Status.PROCESSING)
    # Lower runs sooner, and re-runs go RERUN_BOOST ahead (i2v/lib/workqueue.py), so fresh work starts at 3.
    PRIORITIES = {Queue.THUMBNAILS: 3, Queue.VARIANTS: 6, Queue.BACKFILL: 9}

    asset = models.ForeignKey("library.Asset", on_delete=models.CASCADE, related_name="processing_jobs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    queue = models.CharField(max_length=12, choices=Queue.choices, default=Queue.THUMBNAILS)
    priority = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # Redo the work even where the asset records it as done (backfill --all).
    force = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = ProcessingJobQuerySet.as_manager()

    class Meta:
        indexes = [
            # Queue status counts: status=? [GROUP BY queue, kind]
            models.Index(fields=["status", "priority", "created_at"], name="pjob_status_priority"),
            # An asset's jobs (processing-status API, retry): asset_id=? ORDER BY created_at
            models.Index(fields=["asset", "created_at"], name="pjob_asset_created"),
            # Sweeper, due jobs with no message in flight:
            # status='queued' AND sent_at IS NULL AND available_at <= ? ORDER BY priority, available_at
            models.Index(
                fields=["priority", "available_at"],
                condition=Q(status="queued", sent_at__isnull=True),
                name="pjob_unsent_due",
            ),
            # Sweeper, messages in flight per queue, oldest first (lost-message check):
            # status='queued' AND sent_at < ? [AND queue=?] GROUP BY queue / ORDER BY sent_at
            models.Index(
                fields=["queue", "sent_at"], condition=Q(status="queued", sent_at__isnull=False), name="pjob_in_flight"
            ),
            # Sweeper, leases that ran out: status='processing' AND leased_until < ? ORDER BY leased_until
            models.Index(fields=["leased_until"], condition=Q(status="processing"), name="pjob_leases"),
            # Queue status, recent failures: status='failed' ORDER BY failed_at DESC
            models.Index(fields=["-failed_at"], condition=Q(status="failed"), name="pjob_recent_failures"),
        ]

    def __str__(self):
        return f"{self.kind} of asset {self.asset_id} ({self.status})"

    @staticmethod
    def queue_for(kind):
        """The normal-priority queue of a kind of work (backfill is chosen explicitly)."""
        return Queue.VARIANTS if kind == ProcessingJob.Kind.VARIANTS else Queue.THUMBNAILS

    # --- The work queue's hooks ------------------------------------------------------

    def on_claimed(self):
        """Show the asset as processing (unless this part of it is already complete)."""
        if self.kind == self.Kind.VARIANTS:
            changes = {"variant_status": _unless_complete("variant_status", "variant_status")}
        else:
            changes = {
                "thumbnail_status": _unless_complete("thumbnail_status", "thumbnail_status"),
                "processing_status": _unless_complete("thumbnail_status", "processing_status"),
            }
        update_asset(self.asset, attempts=F("attempts") + 1, **changes)

    def on_requeued(self, message):
        update_asset(self.asset, last_error=message)

    def on_failed(self, message):
        if self.kind == self.Kind.VARIANTS:
            # A usable thumbnail stays usable: processing_status is left alone.
            update_asset(self.asset, variant_status=FAILED, last_error=message)
        else:
            update_asset(self.asset, thumbnail_status=FAILED, processing_status=FAILED, last_error=message)

    def describe_error(self, exc):
        return readable(exc)

    def done_fields(self, now):
        return {"completed_at": now}

    def failed_fields(self, now):
        return {"failed_at": now}

    def complete(self, **fields):
        with transaction.atomic():
            if not super().complete(**fields):
                return False
            if self.kind in (self.Kind.THUMBNAILS, self.Kind.POSTER):
                asset_processed.send(type(self), asset=self.asset)
        QueueState.objects.record_success(self.queue)
        # The asset's error is about a failure that is now behind it, unless
        # another of its jobs is still failed.
        failed = ProcessingJob.objects.filter(asset_id=self.asset_id, status=self.Status.FAILED)
        if self.asset.last_error and not failed.exists():
            update_asset(self.asset, last_error="")
        return True

    def fail(self, exc):
        delay = super().fail(exc)
        if is_systemic(exc):
            # The storage or the code failing says something about the whole queue.
            QueueState.objects.record_failure(self.queue, self.error or readable(exc))
        return delay

    def requeue(self):
        """A person retries a failed job: its normal queue, a full set of attempts."""
        queue = self.queue_for(self.kind)
        now = timezone.now()
        fresh = {
            "status": self.Status.QUEUED, "queue": queue, "priority": self.PRIORITIES[queue], "attempts": 0,
            "error": "", "available_at": now, "sent_at": now, "started_at": None, "heartbeat_at": None,
            "leased_until": None, "completed_at": None, "failed_at": None,
        }  # fmt: skip
        if not ProcessingJob.objects.filter(pk=self.pk, status=self.Status.FAILED).update(**fresh):
            return False
        for name, value in fresh.items():
            setattr(self, name, value)
        self.mark_asset_pending()
        ProcessingJob.objects.send_on_commit([self])
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
