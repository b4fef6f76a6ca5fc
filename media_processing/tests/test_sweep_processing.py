from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from conftest import make_asset
from media_processing.models import ProcessingJob

from .conftest import queue_job


def sweep(capture):
    out = StringIO()
    with capture(execute=True):
        call_command("sweep_processing", stdout=out)
    return out.getvalue().strip()


def test_it_sweeps_once_and_says_what_it_did(owner, broker, django_capture_on_commit_callbacks):
    unsent = queue_job(make_asset(owner), sent_at=None)
    dead = queue_job(make_asset(owner))
    ProcessingJob.objects.claim(dead.pk)
    ProcessingJob.objects.filter(pk=dead.pk).update(leased_until=timezone.now() - timedelta(seconds=1))

    summary = sweep(django_capture_on_commit_callbacks)

    assert summary == (
        "sweep processing: 1 expired leases re-queued, 0 failed for good, 2 due sent, 0 lost messages re-sent"
    )
    assert sorted(broker.job_ids("thumbnails")) == sorted([unsent.pk, dead.pk])


def test_it_resends_what_the_broker_lost(owner, broker, django_capture_on_commit_callbacks):
    # Sent a minute ago, and the broker holds nothing: the message was lost.
    job = queue_job(make_asset(owner), sent_at=timezone.now() - timedelta(seconds=60))

    assert sweep(django_capture_on_commit_callbacks).endswith("1 lost messages re-sent")
    assert broker.job_ids("thumbnails") == [job.pk]
