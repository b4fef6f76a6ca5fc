"""The embedded default's broker (kombu's filesystem transport) keeps up with what beat sends it."""

import json
import os
import subprocess
import sys

from django.conf import settings

# What a worker takes of a virtual transport's queue with one message prefetched: at least one
# message each polling interval (kombu sleeps that long whenever its one slot is taken).
SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "broker": settings.CELERY_BROKER_URL,
    "polling_interval": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("polling_interval", 1.0),
    "prefetch": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
    "every": [float(entry["schedule"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()],  # seconds, each
}))
"""


def _embedded_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="i2v.settings")
    done = subprocess.run([sys.executable, "-c", SETTINGS], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_it_takes_beats_messages_faster_than_beat_sends_them(tmp_path):
    """Were every message beat sends on one worker's queue, that worker would take them in at most half
    its time: with kombu's default interval (1 s) check_remote alone (every second) filled it, and the
    sweeps' made the queue grow without end."""
    embedded = _embedded_settings(tmp_path)
    assert embedded["broker"].startswith("filesystem://") and embedded["prefetch"] == 1
    per_second = sum(1 / every for every in embedded["every"])
    assert per_second > 1  # check_remote every second at least, and the sweeps
    assert per_second * embedded["polling_interval"] <= 0.5, (per_second, embedded["polling_interval"])
