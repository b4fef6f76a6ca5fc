"""A real Celery worker on Redis is killed with SIGKILL in the middle of a job;
a new worker and the sweeper finish the job, and it completes exactly once.

The worker is a subprocess on the test database (PostgreSQL: the in-memory
SQLite test database can't be shared with another process, so the test skips
there) and on Redis database 14. It runs with I2V_TEST_TASK_DELAY, which makes
run_job wait, heart-beating, after saving its work and before marking the job
complete: the worst moment to die. Every wait is bounded.
"""

import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from kombu import Connection

from media_processing.models import ProcessingJob

from .conftest import encoded, picture, queue_job, stored_asset

BROKER = "redis://127.0.0.1:6379/14"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_db():
    if connection.vendor != "postgresql":
        pytest.skip("the worker needs the test database from another process: PostgreSQL only")
    client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {BROKER}, and CI must run this test")
        pytest.skip(f"Redis is not reachable at {BROKER}")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def redis_app(broker_db):
    """The test process sends its messages (the sweeper's) to the workers' Redis."""
    app = Celery("i2v-kill-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = BROKER
    app.conf.broker_transport_options = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
    app.set_current()
    return app


class Workers:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started = []

    def start(self, name, queues="thumbnails,variants,backfill", **env):
        db = connection.settings_dict
        url = f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "i2v", "worker", "-Q", queues,
                "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", f"{name}@%h", "--loglevel", "INFO",
            ],
            cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={
                **os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": BROKER, "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "VAR_DIR": str(self.tmp_path / "var"), **env,
            },
        )  # fmt: skip
        process.log = log
        self.started.append(process)
        return process

    def pool_children(self, process):
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def kill(self, process):
        """SIGKILL the worker and its pool child at once, as the OOM killer or a lost machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            process.log.close()

    def logs(self):
        return "\n".join(f"--- {p.args[p.args.index('-n') + 1]}\n{open(p.log.name).read()[-3000:]}" for p in self.started)


@pytest.fixture
def workers(tmp_path, redis_app):
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def wait_for(condition, timeout, what, workers):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{workers.logs()}")


def job_row(job):
    return ProcessingJob.objects.filter(pk=job.pk).values("status", "attempts", "heartbeat_at").get()


def mtimes(renditions):
    return {entry["name"]: os.stat(default_storage.path(entry["name"])).st_mtime_ns for entry in renditions.values()}


def test_it_finishes_a_killed_workers_job_exactly_once(owner, workers, broker_db):
    asset = stored_asset(owner, encoded(picture((1600, 1200))))
    job = queue_job(asset, sent_at=None)  # the sweeper sends its message
    first = workers.start("doomed", I2V_TEST_TASK_DELAY="30")
    assert ProcessingJob.objects.sweep().resent == 1

    # The worker saved the renditions and is holding the job, heart-beating.
    wait_for(lambda: job_row(job)["status"] == "processing" and asset.__class__.objects.get(pk=asset.pk).renditions, 40, "the first worker to save its work", workers)
    workers.kill(first)
    asset.refresh_from_db()
    saved, written = asset.renditions, mtimes(asset.renditions)
    assert job_row(job)["attempts"] == 1
    assert broker_db.hlen("unacked") == 1, "Redis still holds the dead worker's message, unacknowledged"

    second = workers.start("rescuer")
    killed_at = time.time()
    wait_for(lambda: time.time() - job_row(job)["heartbeat_at"].timestamp() > 2, 10, "the heartbeat to go stale", workers)
    assert ProcessingJob.objects.sweep(stale_after=2) == (1, 0, 0), "re-queued once, its message sent again"
    wait_for(lambda: job_row(job)["status"] == "completed", 40, "the second worker to complete the job", workers)

    job.refresh_from_db()
    asset.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("completed", 2, "")
    assert (asset.processing_status, asset.thumbnail_status) == ("complete", "complete")
    assert asset.renditions == saved and mtimes(asset.renditions) == written, "the renditions were written once"
    stored = [name for folder in default_storage.listdir("r")[0] for name in default_storage.listdir(f"r/{folder}")[1]]
    assert len(stored) == len({entry["name"] for entry in saved.values()}), "no stray copies"

    # Redis gives the dead worker's message back once its visibility timeout is
    # over (an hour in production; at once here). The rescuer receives it and
    # finds nothing to do.
    with Connection(BROKER, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100)
    wait_for(lambda: broker_db.llen("thumbnails") == 0 and broker_db.hlen("unacked") == 0, 20, "the old message to be consumed", workers)
    time.sleep(0.5)
    assert job_row(job)["attempts"] == 2 and job_row(job)["status"] == "completed", "the late message ran nothing"
    assert second.poll() is None, "the rescuer is still running"
    assert time.time() - killed_at < 60


def test_it_finishes_a_job_whose_pool_process_was_killed(owner, workers, broker_db):
    # Only the process running the task dies (the OOM killer's usual pick): the
    # worker gives the message back (reject_on_worker_lost) and receives it
    # again, finds the job still marked processing (it can't tell a dead run
    # from a slow one) and leaves it; the sweeper re-queues the job once its
    # heartbeat is stale.
    asset = stored_asset(owner, encoded(picture()))
    job = queue_job(asset, sent_at=None)
    worker = workers.start("survivor", I2V_TEST_TASK_DELAY="4")
    assert ProcessingJob.objects.sweep().resent == 1
    wait_for(lambda: job_row(job)["status"] == "processing", 40, "the worker to take the job", workers)

    [child] = workers.pool_children(worker)
    os.kill(child, signal.SIGKILL)
    def log():
        with open(worker.log.name) as f:
            return f.read()

    wait_for(lambda: "WorkerLostError" in log() and "'skipped'" in log(), 30, "the message to come back and find nothing to claim", workers)
    assert job_row(job)["status"] == "processing" and job_row(job)["attempts"] == 1
    wait_for(lambda: time.time() - job_row(job)["heartbeat_at"].timestamp() > 2, 10, "the heartbeat to go stale", workers)
    assert ProcessingJob.objects.sweep(stale_after=2).requeued == 1
    wait_for(lambda: job_row(job)["status"] == "completed", 40, "the job to complete", workers)

    assert job_row(job)["attempts"] == 2
    assert worker.poll() is None, "the worker itself lived on"
