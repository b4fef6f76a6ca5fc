"""Celery tasks of the generation queue. Step rows, not Celery, say what is
queued, running, waiting at a provider, done or failed (i2v/lib/workqueue.py);
messages carry only a step id, and a duplicate finds nothing to claim.

run_step submits a step or fetches its result (jobs/executor.py): short, never
waiting on a provider. The control queue's tasks keep things moving: the
poller asks providers about requests in flight (check_remote, every
GENERATION_POLL_SECONDS), the dispatcher sends steps as providers have places
for them (dispatch_steps), and the sweeper takes back steps whose worker died
(sweep_steps, every WORK_SWEEP_SECONDS).
"""

import logging

from celery import shared_task
from django.conf import settings

from i2v.lib.workqueue import run_task

from . import executor
from .models import RUN_STEP, Step
from .remote import check_due

logger = logging.getLogger(__name__)


@shared_task(
    name=RUN_STEP,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.GENERATION_SOFT_TIME_LIMIT,
    time_limit=settings.GENERATION_TIME_LIMIT,
)
def run_step(step_id):
    outcome = run_task(Step, step_id, executor.run)
    # A place may have freed (a synchronous step ended): send the next ones now, not at the next tick.
    Step.objects.dispatch()
    return outcome


@shared_task(name="jobs.tasks.check_remote", ignore_result=True)
def check_remote():
    checked, changed = check_due()
    sent = Step.objects.dispatch() if checked or changed else 0
    if changed or sent:
        logger.info("check_remote: %d checked, %d changed, %d steps sent", checked, changed, sent)
    return f"check_remote: {checked} checked, {changed} changed, {sent} sent"


@shared_task(name="jobs.tasks.dispatch_steps", ignore_result=True)
def dispatch_steps():
    return f"dispatch_steps: {Step.objects.dispatch()} sent"


@shared_task(name="jobs.tasks.sweep_steps", ignore_result=True)
def sweep_steps():
    result = Step.objects.sweep()
    if any(result):
        logger.info(result.summary("sweep steps"))
    return result.summary("sweep steps")
