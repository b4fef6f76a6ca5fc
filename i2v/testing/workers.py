"""Real Celery workers, beat and servers in subprocesses, for the fault tests.

The workers run on the PostgreSQL test database (the in-memory SQLite test
database can't be shared with another process, so these tests skip there) and
on Redis database 14 as their broker. Leases, heartbeats and sweeps are made
short (REAL_WORKER_ENV) so a recovery takes seconds; the production figures are
measured by bench/faults.py, which runs the same Cluster with `timings={}` (the
settings' defaults) on a PrivatePostgres and a PrivateRedis of its own. Every
wait is bounded.

    from i2v.testing.workers import broker_db, cluster, redis_app  # noqa: F401  (fixtures)
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection

# Redis database 14 unless REAL_WORKERS_BROKER_URL names another (engineers sharing one Redis).
BROKER = os.environ.get("REAL_WORKERS_BROKER_URL") or "redis://127.0.0.1:6379/14"
# Short enough for a test to see a recovery in seconds, with the same ratios as production.
REAL_WORKER_ENV = {
    "WORK_LEASE_SECONDS": "6",
    "WORK_HEARTBEAT_SECONDS": "1",
    "WORK_SWEEP_SECONDS": "2",
    "WORK_RESEND_SECONDS": "5",
    "WORK_DB_WAIT_SECONDS": "5",
    "PROCESSING_BACKOFF_SECONDS": "1",
    "GENERATION_BACKOFF_SECONDS": "1",
}


def database_url(db=None):
    db = db or connection.settings_dict
    user, password = quote(db["USER"] or ""), quote(db["PASSWORD"] or "")
    return f"postgres://{user}:{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker_db():
    if connection.vendor != "postgresql":
        pytest.skip("the workers need the test database from another process: PostgreSQL only")
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
    """The test process sends its messages to the workers' Redis."""
    return celery_app(BROKER)


def celery_app(broker_url):
    app = Celery("i2v-real-workers", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
    app.set_current()
    return app


class Cluster:
    """Worker, beat and web processes started by a test, all killed at its end."""

    def __init__(self, tmp_path, broker=BROKER, database=None, timings=REAL_WORKER_ENV):
        self.tmp_path = tmp_path
        self.broker = broker
        self.database = database
        self.timings = timings  # {} keeps the production leases, heartbeats and sweeps
        self.started = []

    def env(self, **extra):
        return {
            **os.environ, **self.timings, "DATABASE_URL": self.database or database_url(),
            "CELERY_BROKER_URL": self.broker, "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "VAR_DIR": str(self.tmp_path / "var"), "WORK_LEASE_KEEPER": "1", **extra,
        }  # fmt: skip

    def spawn(self, name, args, **env):
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env(**env)
        )
        process.name, process.log = name, log
        self.started.append(process)
        return process

    def worker(self, name, queues="thumbnails,variants,backfill", concurrency=1, **env):
        return self.spawn(name, [
            sys.executable, "-m", "celery", "-A", "i2v", "worker", "-Q", queues, "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h", "--loglevel", "INFO",
        ], **env)  # fmt: skip

    def control(self, **env):
        """The sweepers' own worker and beat, as `make run` and compose start them."""
        self.worker("control", queues=settings.CONTROL_QUEUE, **env)
        return self.spawn("beat", [
            sys.executable, "-m", "celery", "-A", "i2v", "beat", "--loglevel", "INFO",
            "-s", str(self.tmp_path / "celerybeat-schedule"),
        ], **env)  # fmt: skip

    def web(self, **env):
        """granian, the production web server (i2v/web.py), on a free loopback port; its base URL once it answers."""
        port = free_port()
        self.spawn("web", [sys.executable, "-m", "i2v.web"], WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS="1", WEB_THREADS="4",
                   SERVER_TIMING="0", **env)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        self.wait(lambda: _answers(port), 30, "granian to start")
        return url

    def pool_children(self, process):
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]

    def kill(self, process):
        """SIGKILL a process and its children at once, as the OOM killer or a lost machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            process.log.close()

    def log(self, process):
        """The whole log of a process, or of the one started under that name."""
        if isinstance(process, str):
            process = next(p for p in self.started if p.name == process)
        return Path(process.log.name).read_text()

    def logs(self):
        return "\n".join(f"--- {p.name}\n{self.log(p)[-3000:]}" for p in self.started)

    def wait(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout} s waiting for {what}\n{self.logs()}")


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def cluster(tmp_path, redis_app):
    started = Cluster(tmp_path)
    yield started
    started.stop_all()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on another port, to stop and start
    at will: the shared server is never touched. Made as the postgres user."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, port):
        # Under /tmp itself: the postgres user can't enter pytest's per-user temp folders.
        self.root = Path(tempfile.mkdtemp(prefix="i2v-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = port
        self.url = f"postgres://postgres@127.0.0.1:{port}/i2v"

    def _as_postgres(self, *args):
        done = subprocess.run(["su", "postgres", "-c", " ".join(args)], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def init(self):
        if not (self.BIN / "initdb").exists() or shutil.which("su") is None:
            pytest.skip("PostgreSQL 15's server binaries are needed for a private cluster")
        shutil.chown(self.root, "postgres")
        self._as_postgres(str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", "CREATE DATABASE i2v"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def start(self):
        options = f"'-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1'"
        self._as_postgres(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.root / "log"), "start")

    def stop(self):
        self._as_postgres(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self):
        try:
            self.stop()
        except RuntimeError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the caller's own on another port, to crash and start
    again at will: with no persistence (what it held is gone after a restart),
    or with append-only persistence in `aof_dir` (what it held comes back)."""

    def __init__(self, port, aof_dir=None):
        self.port = port
        self.aof_dir = aof_dir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is needed for a private broker")
        persistence = ["--appendonly", "yes", "--dir", str(self.aof_dir)] if self.aof_dir else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                # An append-only file is loaded before Redis answers PING with PONG (it says LOADING).
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the private Redis on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()  # no save, no goodbye: what a crash looks like
            self.process.wait(timeout=10)
