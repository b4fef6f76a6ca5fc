"""Celery tasks of the webhooks queue: messages carry a delivery id, the row says the rest."""

import logging

from celery import shared_task

from i2v.lib.workqueue import run_task

from . import send
from .models import DELIVER, Delivery

logger = logging.getLogger(__name__)


@shared_task(name=DELIVER, acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def deliver(delivery_id):
    return run_task(Delivery, delivery_id, send.deliver)


@shared_task(name="hooks.tasks.sweep", ignore_result=True)
def sweep():
    result = Delivery.objects.sweep()
    pruned = Delivery.objects.prune()
    if any(result) or pruned:
        logger.info("%s, %d old deliveries forgotten", result.summary("sweep webhooks"), pruned)
    return f"{result.summary('sweep webhooks')}, {pruned} old deliveries forgotten"
