"""Fixtures for the processing tests: a real broker in memory, and assets whose
originals are real files in storage."""

import hashlib
import io
from contextlib import contextmanager
from fractions import Fraction

import av
import pytest
from celery import Celery, current_app
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from i2v.celery import app as i2v_app
from library.models import Asset
from media_processing.models import ProcessingJob

QUEUES = ProcessingJob.Queue.values


class MemoryBroker:
    """kombu's in-memory transport behind a Celery app made current for the test:
    every message the code sends lands here, none on the developer's broker,
    and a test can read what was sent."""

    def __init__(self, app):
        self.app = app

    def messages(self, queue):
        """Remove and return the messages waiting in `queue`, as dicts of task, args, kwargs and eta."""
        taken = []
        with self.app.connection_for_write() as conn:
            channel = conn.default_channel
            while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
                args, kwargs, _embed = message.decode()
                taken.append({
                    "task": message.headers["task"], "args": args, "kwargs": kwargs, "eta": message.headers.get("eta"),
                    "priority": message.properties.get("priority"),
                })  # fmt: skip
        return taken

    def take(self, queue):
        """Remove and return the run_job messages waiting in `queue`: [(job id, eta or None)]."""
        return [(m["args"][0], m["eta"]) for m in self.messages(queue) if m["task"] == "media_processing.tasks.run_job"]

    def job_ids(self, queue):
        return [job_id for job_id, _ in self.take(queue)]

    def purge(self):
        with self.app.connection_for_write() as conn:
            for queue in QUEUES:
                conn.default_channel.queue_purge(queue)


@pytest.fixture(autouse=True)
def broker():
    app = Celery("i2v-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}
    app.set_current()
    memory = MemoryBroker(app)
    memory.purge()
    yield memory
    memory.purge()
    i2v_app.set_current()


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """ProcessingJob.objects.sweep(), with the messages it sends on commit sent
    (the test's own transaction never commits)."""

    def run(**options):
        with django_capture_on_commit_callbacks(execute=True):
            return ProcessingJob.objects.sweep(**options)

    return run


@contextmanager
def broker_down():
    """Make the current Celery app one whose broker is a port where nothing listens."""
    previous = current_app._get_current_object()
    down = Celery("i2v-down", set_as_current=False)
    down.config_from_object("django.conf:settings", namespace="CELERY")
    down.conf.broker_url = "redis://127.0.0.1:1/0"
    down.conf.broker_transport_options = {"socket_connect_timeout": 0.5}
    down.set_current()
    try:
        yield
    finally:
        previous.set_current()


def encoded(image, fmt="JPEG", **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def picture(size=(800, 600)):
    """Left half red, right half blue: orientation shows in any rendition."""
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    return image


def tiny_mp4(size=(96, 64), frames=6, colour=(0, 160, 0)):
    """A real H.264 MP4, made here so the poster test needs no fixture file."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12, options={"threads": "1"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for n in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", size, colour))
            frame.pts, frame.time_base = n, Fraction(1, 12)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def stored_asset(owner, data, ext="jpg", kind="image", source="upload"):
    """A saved Asset as an upload leaves it: original stored, nothing rendered yet."""
    asset = Asset(
        owner=owner, kind=kind, source=source, sha256=hashlib.sha256(data).hexdigest(), filename=f"upload.{ext}",
        bytes=len(data), processing_status="pending",
    )  # fmt: skip
    asset.original.save(asset.filename, ContentFile(data), save=False)
    asset.save()
    return asset


def queue_job(asset, kind="thumbnails", queue="thumbnails", **fields):
    """A queued job whose message is in flight, without sending one."""
    fields.setdefault("sent_at", timezone.now())
    return ProcessingJob.objects.create(asset=asset, kind=kind, queue=queue, priority=ProcessingJob.PRIORITIES[queue], **fields)
