from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from conftest import make_asset
from media_processing.models import ProcessingJob

from .conftest import queue_job


def sweep(*args, capture):
    out = StringIO()
    with capture(execute=True):
        call_command("sweep_processing", *args, stdout=out)
    return out.getvalue().strip()


def test_it_sweeps_once_and_says_what_it_did(owner, broker, django_capture_on_commit_callbacks):
    unsent = queue_job(make_asset(owner), sent_at=None)

    summary = sweep(capture=django_capture_on_commit_callbacks)

    assert summary == "sweep: 0 stale jobs re-queued, 0 failed for good, 1 messages re-sent"
    assert broker.job_ids("thumbnails") == [unsent.pk]


def test_it_takes_the_stale_cutoff(owner, broker, django_capture_on_commit_callbacks):
    job = queue_job(make_asset(owner))
    ProcessingJob.objects.claim(job.pk)
    ProcessingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=20))

    assert sweep(capture=django_capture_on_commit_callbacks).startswith("sweep: 0 stale"), "20 s is not stale by default"
    summary = sweep("--stale-after", "10", capture=django_capture_on_commit_callbacks)

    assert summary.startswith("sweep: 1 stale jobs re-queued")
    assert broker.job_ids("thumbnails") == [job.pk]


def test_it_takes_the_resend_cutoff(owner, broker, django_capture_on_commit_callbacks):
    job = queue_job(make_asset(owner), sent_at=timezone.now() - timedelta(seconds=30))

    assert sweep("--resend-after", "20", capture=django_capture_on_commit_callbacks).endswith("1 messages re-sent")
    assert broker.job_ids("thumbnails") == [job.pk]
