"""manage.py declare_queues on the filesystem broker `make run` uses: every task queue and every named worker's
remote-control queue bound once, however often it runs, before any worker exists."""

import json
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def declare(var_dir, *workers):
    env = {"VAR_DIR": str(var_dir), "PATH": "/usr/bin:/bin"}  # no REDIS_URL: the filesystem broker
    done = subprocess.run([sys.executable, "manage.py", "declare_queues", *workers], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


def bindings(var_dir, exchange):
    return json.loads((var_dir / "celery" / "control" / f"{exchange}.exchange").read_text())


def test_it_binds_every_task_queue_and_each_workers_control_queue_once(tmp_path):
    declare(tmp_path, "media@%h", "control@%h")
    declare(tmp_path, "media@%h", "control@%h")

    tasks = bindings(tmp_path, "celery")
    assert sorted(queue for _, _, queue in tasks) == sorted(queue.name for queue in settings.CELERY_TASK_QUEUES)
    host = socket.gethostname()
    control = bindings(tmp_path, "celery.pidbox")
    assert sorted(queue for _, _, queue in control) == [f"control@{host}.celery.pidbox", f"media@{host}.celery.pidbox"]


def test_it_binds_the_task_queues_when_no_worker_is_named(tmp_path):
    declare(tmp_path)

    assert len(bindings(tmp_path, "celery")) == len(settings.CELERY_TASK_QUEUES)
    assert not (tmp_path / "celery" / "control" / "celery.pidbox.exchange").exists()
