"""The pipeline executor. Step rows, not Celery, say what is queued, running,
done or failed (i2v/lib/workqueue.py); messages carry only a step id, and a
duplicate finds nothing to claim.

run_step is acks_late with reject_on_worker_lost: a worker that dies mid-step
gives the message back. The sweeper (sweep_steps, on the `control` queue every
WORK_SWEEP_SECONDS) covers the rest from the rows: a lease that ran out, a
message the broker lost.
"""

import logging

from celery import shared_task
from django.conf import settings

from i2v.lib.workqueue import pause_for_tests, run_task

from .models import RUN_STEP, Step
from .providers import get_provider

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
    return run_task(Step, step_id, _run)


def _run(step):
    files, cost = _generate(step)
    pause_for_tests(step)
    finished = step.finish(files, cost)
    step.pipeline.advance()
    return "completed" if finished else "cancelled"


def _generate(step):
    """(files, cost) of one step from its provider, renewing the lease as it goes."""
    provider = get_provider(step.model_name)
    source = step.source_bytes()
    if step.kind == Step.Kind.I2I:
        result = provider.generate_images(source, step.prompt, step.config, on_progress=step.beat)
        return result.files, result.cost
    files, cost = [], 0
    for video in range(step.config.get("videos_per_image", 1)):
        # A different seed per video, so two videos of one image differ.
        result = provider.generate_video(source, step.prompt, {**step.config, "seed": video}, on_progress=step.beat)
        files += result.files
        cost += result.cost
        step.beat()  # between videos too: a cancel must not pay for the next one
    return files, cost


@shared_task(name="jobs.tasks.sweep_steps", ignore_result=True)
def sweep_steps():
    result = Step.objects.sweep()
    if any(result):
        logger.info(result.summary("sweep steps"))
    return result.summary("sweep steps")
