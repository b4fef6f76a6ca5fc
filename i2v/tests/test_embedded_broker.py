"""The embedded default's broker (kombu's filesystem transport) keeps up with what beat sends it."""

import json
import os
import queue
import subprocess
import sys

import pytest
from django.conf import settings
from kombu import Connection

from i2v.lib import fsbroker

# What a worker takes of a virtual transport's queue with one message prefetched: at least one
# message each polling interval (kombu sleeps that long whenever its one slot is taken).
SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from i2v.celery import app
print(json.dumps({
    "broker": settings.CELERY_BROKER_URL,
    "transport": type(app.connection_for_write().transport).__module__,
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


@pytest.fixture
def channel(tmp_path):
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=folders) as connection:
        yield connection.channel()


def test_it_runs_on_the_transport_that_writes_each_message_whole(tmp_path):
    assert _embedded_settings(tmp_path)["transport"] == "i2v.lib.fsbroker"


def test_it_lets_no_worker_take_a_message_before_it_is_written_whole(channel, monkeypatch):
    """kombu's own transport made the file under its final name, then wrote it: a worker polling every 0.1 s
    read one still empty, and its JSONDecodeError stopped the control worker, and `make run` with it."""
    renamed, replace = [], os.replace

    def rename_once_whole(partial, final):
        with open(partial, "rb") as written:
            assert json.loads(written.read())["body"] == "ping"  # whole before it is named
        with pytest.raises(queue.Empty):
            channel._get("control")  # and no worker can take it until then
        renamed.append(final)
        replace(partial, final)

    monkeypatch.setattr(fsbroker.os, "replace", rename_once_whole)
    channel._put("control", {"body": "ping"})
    assert renamed and channel._get("control") == {"body": "ping"}


def test_it_skips_a_message_file_written_in_part(channel, tmp_path, caplog):
    """One left half-written (by a crash, or by the transport before) is logged and passed over; its message
    is lost as a lost message is, and the sweepers send again what a row still waits for."""
    # Named as if written at boot, to be read first: the queue is read in name order (named "1_left", it came after
    # the message when the uptime in milliseconds began "10" to "19": CI failed so, 25 minutes after a boot).
    (tmp_path / "0000000000000_left.control.msg").write_bytes(b'{"body": "pi')
    channel._put("control", {"body": "ping"})
    assert channel._get("control") == {"body": "ping"}
    assert "skipped an unreadable message" in caplog.text
    with pytest.raises(queue.Empty):
        channel._get("control")


def test_it_reads_the_queue_in_the_order_it_was_written(channel, monkeypatch):
    clock = iter([999.999, 1000.001])  # seconds since boot, across a power of ten in milliseconds
    monkeypatch.setattr(fsbroker, "monotonic", lambda: next(clock))
    channel._put("control", {"body": "first"})
    channel._put("control", {"body": "second"})
    assert [channel._get("control")["body"] for _ in range(2)] == ["first", "second"]


def test_it_stops_waiting_for_a_message_once_its_worker_is_asked_to_stop(tmp_path, monkeypatch):
    """An idle worker asked to stop (warm: Celery's should_stop is 0, EX_OK) gives its wait up at once, where
    kombu's waited the round out (Celery's 2 s, twice after SIGTERM), or for ever without a timeout. Until
    then a wait takes what comes."""
    from celery.worker import state
    from kombu.transport.virtual import base

    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "polling_interval": 0.05}
    with Connection("filesystem://", transport_options=folders) as connection:
        assert isinstance(connection.transport, fsbroker.Transport)
        waiting = connection.SimpleQueue("waiting")
        waiting.put({"n": 1})
        assert waiting.get(timeout=5).payload == {"n": 1}
        with pytest.raises(waiting.Empty):
            waiting.get(timeout=0.2)  # nothing came: the wait ends with its timeout
        polls = []
        monkeypatch.setattr(base, "sleep", polls.append)
        for asked in ("should_stop", "should_terminate"):
            monkeypatch.setattr(state, asked, 0)
            with pytest.raises(waiting.Empty):
                waiting.get(timeout=2.0)
            assert polls == [], asked  # given up at once, not polled to the round's end
            with pytest.raises(waiting.Empty):
                waiting.get(timeout=None)  # a wait with no end too
            monkeypatch.setattr(state, asked, None)
        waiting.close()
