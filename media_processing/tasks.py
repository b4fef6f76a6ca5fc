"""Celery tasks. They take ids and are idempotent; ProcessingJob rows, not
Celery, say what is queued, running, done or failed (i2v/lib/workqueue.py).

run_job is acks_late with reject_on_worker_lost (also the project defaults): a
message is acknowledged only after its job ran, so a worker that dies mid-job
gives the message back. The sweeper covers the rest from the job rows (a lease
that ran out, a message the broker lost) and runs on the `control` queue, where
no backlog can hold it up.
"""

import logging

from celery import shared_task
from django.conf import settings

from i2v.lib.workqueue import pause_for_tests, run_task

from . import work
from .models import TASK_NAME, ProcessingJob, assets_to_backfill

logger = logging.getLogger(__name__)


@shared_task(
    name=TASK_NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.PROCESSING_SOFT_TIME_LIMIT,
    time_limit=settings.PROCESSING_TIME_LIMIT,
)
def run_job(job_id):
    return run_task(ProcessingJob, job_id, _process)


def _process(job):
    work.run(job)
    pause_for_tests(job)
    job.complete()


@shared_task(name="media_processing.tasks.sweep", ignore_result=True)
def sweep():
    result = ProcessingJob.objects.sweep()
    if any(result):
        logger.info(result.summary("sweep processing"))
    return result.summary("sweep processing")


@shared_task(name="media_processing.tasks.backfill", ignore_result=True)
def backfill(missing=True, kind=None, batch=500):
    """POST /api/library/generate-thumbnails: the backfill command, in a worker."""
    assets, jobs = ProcessingJob.objects.backfill(assets_to_backfill(missing, kind), force=not missing, batch=batch)
    return f"backfill: {assets} assets, {jobs} jobs queued"
