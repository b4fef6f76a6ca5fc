"""Celery tasks. They take ids and are idempotent; ProcessingJob rows, not
Celery, say what is queued, running, done or failed.

run_job is acks_late with reject_on_worker_lost (also the project defaults): a
message is acknowledged only after its job ran, so a worker that dies mid-job
gives the message back. The sweeper covers the rest (a whole machine lost, a
message lost by the broker) from the job rows.
"""

import logging
import os
import time

from celery import shared_task
from django.conf import settings

from . import work
from .errors import ProcessingError, Superseded
from .models import ProcessingJob, assets_to_backfill

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="media_processing.tasks.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.PROCESSING_SOFT_TIME_LIMIT,
    time_limit=settings.PROCESSING_TIME_LIMIT,
)
def run_job(self, job_id):
    job = ProcessingJob.objects.claim(job_id)
    if job is None:
        # Another delivery of this message ran it, or it may not run yet.
        return "skipped"
    try:
        work.run(job)
        _pause_for_tests(job)
    except Superseded:
        return "superseded"
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        if isinstance(exc, ProcessingError):
            logger.warning("processing job %s failed: %s", job_id, exc)
        else:
            logger.exception("processing job %s failed unexpectedly", job_id)
        job.fail_attempt(exc)
        return "failed"
    job.complete()
    return "completed"


@shared_task(name="media_processing.tasks.sweep", ignore_result=True)
def sweep():
    result = ProcessingJob.objects.sweep()
    if any(result):
        logger.info(result.summary())
    return result.summary()


@shared_task(name="media_processing.tasks.backfill", ignore_result=True)
def backfill(missing=True, kind=None, batch=500):
    """POST /api/library/generate-thumbnails: the backfill command, in a worker."""
    assets, jobs = ProcessingJob.objects.backfill(assets_to_backfill(missing, kind), force=not missing, batch=batch)
    return f"backfill: {assets} assets, {jobs} jobs queued"


def _pause_for_tests(job):
    """Hold a job between saving its work and being marked complete: the worst
    moment for its worker to die. Only test_worker_kill.py sets
    I2V_TEST_TASK_DELAY (seconds), in the environment of the worker it starts;
    unset, which it always is outside that test, this does nothing."""
    delay = float(os.environ.get("I2V_TEST_TASK_DELAY") or 0)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        time.sleep(0.2)
        job.heartbeat(force=True)
