"""Celery tasks of the library: the media collector (beat runs it; deletes ask for it too)."""

import logging

from celery import shared_task

from . import collector

logger = logging.getLogger(__name__)


@shared_task(name=collector.TASK_NAME, ignore_result=True)
def collect_media(scan=False):
    result = collector.collect(scan=scan)
    if result.deleted or result.found:
        logger.info(result.summary())
    return result.summary()
