"""A real Celery worker on Redis is killed with SIGKILL in the middle of a job;
the job completes exactly once, within seconds, with nobody calling the sweeper
by hand: the sweeper runs on its own worker, driven by beat, as in production.

The harness is i2v/testing/workers.py (PostgreSQL only; Redis database 14). The
workers run with I2V_TEST_TASK_DELAY, which holds a job after its work is saved
and before it is marked complete (the worst moment to die), and with short
leases (6 s, renewed every second) so a recovery takes seconds.
"""

import os
import signal
import time

import pytest
from django.core.files.storage import default_storage
from kombu import Connection

from i2v.testing.workers import BROKER, broker_db, cluster, redis_app  # noqa: F401
from library.models import Asset
from media_processing.models import ProcessingJob

from .conftest import encoded, picture, queue_job, stored_asset

pytestmark = pytest.mark.django_db(transaction=True)
# Lease 6 s + sweep every 2 s + a new worker's start: a generous ceiling on the recovery.
RECOVERY_CEILING = 40


def job_row(job):
    return ProcessingJob.objects.filter(pk=job.pk).values("status", "attempts", "leased_until").get()


def mtimes(renditions):
    return {entry["name"]: os.stat(default_storage.path(entry["name"])).st_mtime_ns for entry in renditions.values()}


def rendered(asset):
    return Asset.objects.filter(pk=asset.pk).values_list("renditions", flat=True).get()


def test_it_finishes_a_killed_workers_job_exactly_once_within_seconds(owner, cluster, broker_db):  # noqa: F811
    asset = stored_asset(owner, encoded(picture((1600, 1200))))
    job = queue_job(asset, sent_at=None)  # the sweeper sends its message
    cluster.control()
    doomed = cluster.worker("doomed", I2V_TEST_TASK_DELAY="60")

    cluster.wait(lambda: job_row(job)["status"] == "processing" and rendered(asset), 40, "the worker to save its work")
    first_lease = job_row(job)["leased_until"]
    cluster.wait(lambda: job_row(job)["leased_until"] > first_lease, 10, "the lease keeper to renew the lease")
    cluster.kill(doomed)
    killed = time.monotonic()
    saved = rendered(asset)
    written = mtimes(saved)
    assert job_row(job)["attempts"] == 1
    assert broker_db.hlen("unacked") == 1, "Redis still holds the dead worker's message, unacknowledged"

    rescuer = cluster.worker("rescuer")
    cluster.wait(lambda: job_row(job)["status"] == "completed", RECOVERY_CEILING, "the job to complete")
    recovery = time.monotonic() - killed

    job.refresh_from_db()
    asset.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("completed", 2, "")
    assert (asset.processing_status, asset.thumbnail_status) == ("complete", "complete")
    assert asset.renditions == saved and mtimes(asset.renditions) == written, "the renditions were written once"
    root = f"u/{owner.pk}/r"  # library/media.py: every rendition of this owner's pictures
    stored = [name for folder in default_storage.listdir(root)[0] for name in default_storage.listdir(f"{root}/{folder}")[1]]
    assert len(stored) == len({entry["name"] for entry in saved.values()}), "no stray copies"
    assert recovery < RECOVERY_CEILING

    # Redis gives the dead worker's message back once its visibility timeout is
    # over (at once here): the rescuer receives it and finds nothing to do.
    with Connection(BROKER, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100)
    cluster.wait(lambda: broker_db.llen("thumbnails") == 0 and broker_db.hlen("unacked") == 0, 20, "the old message to be consumed")
    time.sleep(0.5)
    assert job_row(job)["attempts"] == 2 and job_row(job)["status"] == "completed", "the late message ran nothing"
    assert rescuer.poll() is None, "the rescuer is still running"


def test_it_reruns_a_job_whose_pool_process_was_killed_when_its_lease_ends(owner, cluster, broker_db):  # noqa: F811
    # Only the process running the task dies (the OOM killer's usual pick): the
    # worker gives the message back (reject_on_worker_lost) and receives it
    # again; it finds the job leased to the dead run, so it comes back when the
    # lease ends, instead of being dropped.
    asset = stored_asset(owner, encoded(picture()))
    job = queue_job(asset, sent_at=None)
    worker = cluster.worker("survivor", I2V_TEST_TASK_DELAY="4")
    cluster.control()
    cluster.wait(lambda: job_row(job)["status"] == "processing", 40, "the worker to take the job")

    [child] = cluster.pool_children(worker)
    os.kill(child, signal.SIGKILL)
    killed = time.monotonic()
    cluster.wait(lambda: "WorkerLostError" in cluster.log(worker), 30, "the worker to notice its child died")
    cluster.wait(lambda: job_row(job)["status"] == "completed", RECOVERY_CEILING, "the job to complete")

    assert job_row(job)["attempts"] == 2
    assert time.monotonic() - killed < RECOVERY_CEILING
    assert worker.poll() is None, "the worker itself lived on"
