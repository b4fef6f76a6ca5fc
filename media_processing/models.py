import logging

from django.db import models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


class ProcessingJobQuerySet(models.QuerySet):
    def schedule(self, asset, kind, queue):
        """Create a queued job for `asset` and send its message once the
        transaction commits (a rolled-back upload sends nothing).

        The row is the source of truth; if the broker is down the message is
        lost, the row stays queued, and the sweeper sends it again later.
        """
        job = self.create(asset=asset, kind=kind, queue=queue, priority=ProcessingJob.PRIORITIES[queue])
        transaction.on_commit(job.send)
        return job

    def schedule_upload(self, asset):
        """A fresh upload: thumbnails first (or a poster for a video), then variants."""
        first = ProcessingJob.Kind.POSTER if asset.kind == "video" else ProcessingJob.Kind.THUMBNAILS
        jobs = [self.schedule(asset, first, ProcessingJob.Queue.THUMBNAILS)]
        if asset.kind == "image":
            jobs.append(self.schedule(asset, ProcessingJob.Kind.VARIANTS, ProcessingJob.Queue.VARIANTS))
        return jobs


class ProcessingJob(models.Model):
    """One unit of background media work. Celery only carries messages; this row
    says what is queued, running, done or failed, and how often it was tried."""

    class Kind(models.TextChoices):
        THUMBNAILS = "thumbnails"
        VARIANTS = "variants"
        POSTER = "poster"

    class Queue(models.TextChoices):
        # Separate Celery queues, so a backfill of 100,000 never starves a fresh upload.
        THUMBNAILS = "thumbnails"
        VARIANTS = "variants"
        BACKFILL = "backfill"

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    # Lower runs sooner, within a queue and when the sweeper re-sends.
    PRIORITIES = {Queue.THUMBNAILS: 0, Queue.VARIANTS: 5, Queue.BACKFILL: 9}

    asset = models.ForeignKey("library.Asset", on_delete=models.CASCADE, related_name="processing_jobs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    queue = models.CharField(max_length=12, choices=Queue.choices, default=Queue.THUMBNAILS)
    priority = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the job may run next (exponential backoff after a failure).
    available_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ProcessingJobQuerySet.as_manager()

    class Meta:
        indexes = [
            # Queue order and the sweeper: status=? ORDER BY priority, created_at
            models.Index(fields=["status", "priority", "created_at"], name="pjob_status_priority"),
            # An asset's jobs (processing-status API, retry): asset_id=? ORDER BY created_at
            models.Index(fields=["asset", "created_at"], name="pjob_asset_created"),
        ]

    def __str__(self):
        return f"{self.kind} of asset {self.asset_id} ({self.status})"

    def send(self):
        """Send this job's Celery message (by name: the task lives in tasks.py).

        Never raises: with the broker down the request that scheduled the job
        must still succeed; the row stays queued and the sweeper re-sends it.
        No publish retries either, so an outage costs one failed connect.
        """
        from i2v.celery import app

        try:
            app.send_task(
                "media_processing.tasks.run_job",
                args=[self.pk],
                queue=self.queue,
                priority=self.priority,
                retry=False,
            )
        except Exception:  # noqa: BLE001 - any broker failure means "send later"
            logger.warning("could not send processing job %s; the sweeper will retry", self.pk, exc_info=True)
