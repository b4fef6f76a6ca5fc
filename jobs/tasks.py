"""The pipeline executor. Step rows, not Celery, say what is queued, running,
done or failed; messages carry only a step id, and a duplicate finds nothing to claim.

run_step is acks_late with reject_on_worker_lost: a worker that dies mid-step
gives the message back. The sweeper (sweep_steps, every minute) covers the rest
from the rows: a stale heartbeat after a restart, a message the broker lost.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from .models import Cancelled, Step
from .providers import ProviderError, get_provider

logger = logging.getLogger(__name__)


@shared_task(
    name="jobs.tasks.run_step",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.GENERATION_SOFT_TIME_LIMIT,
    time_limit=settings.GENERATION_TIME_LIMIT,
)
def run_step(step_id):
    step = Step.objects.claim(step_id)
    if step is None:
        return "skipped"
    outcome = _execute(step)
    step.pipeline.advance()
    return outcome


def _execute(step):
    try:
        files, cost = _generate(step)
    except Cancelled:
        step.mark_cancelled()
        return "cancelled"
    except ProviderError as exc:
        logger.warning("step %s failed: %s", step.pk, exc.message)
        step.fail(exc.message, exc.retryable)
        return "failed"
    except SoftTimeLimitExceeded:
        step.fail("The step ran out of time.", retryable=True)
        return "failed"
    except Exception:  # noqa: BLE001 - every failure is recorded on the step, readable
        logger.exception("step %s failed unexpectedly", step.pk)
        step.fail("An internal error stopped this step; it was logged for the operators.", retryable=True)
        return "failed"
    return "completed" if step.complete(files, cost) else "cancelled"


def _generate(step):
    """(files, cost) of one step from its provider, beating the heartbeat as it goes."""
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
    result = Step.objects.sweep_stale()
    if any(result):
        logger.info(result.summary())
    return result.summary()
