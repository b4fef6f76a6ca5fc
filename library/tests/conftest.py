"""Fixtures of the library tests: a Celery broker in memory, a temporary-upload
folder of their own (so a test can see that a refused upload left nothing
there), and a count of leftovers."""

from contextlib import contextmanager

import pytest
from celery import Celery, current_app

from library.models import Asset
from library.tests.files import files_under
from media_processing.models import ProcessingJob


@contextmanager
def celery_on(broker_url):
    """A Celery app on `broker_url`, current and default in every thread meanwhile
    (the live server's threads send too), then the previous one again."""
    previous = current_app._get_current_object()
    app = Celery("i2v-library-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {}
    app.set_current()
    app.set_default()
    if broker_url == "memory://":
        # kombu's memory transport is one per process: start from empty queues, not the last test's.
        with app.connection_for_write() as conn:
            for queue in ("thumbnails", "variants", "backfill", "generation", "control"):
                conn.default_channel.queue_purge(queue)
    try:
        yield app
    finally:
        previous.set_current()
        previous.set_default()


@pytest.fixture(autouse=True)
def memory_broker():
    """Uploads send their jobs' messages after commit: into memory, never to the developer's broker in var/."""
    with celery_on("memory://") as app:
        yield app


@pytest.fixture
def dead_broker(memory_broker):
    with celery_on("redis://127.0.0.1:1/0") as app:  # nothing listens there
        yield app


@pytest.fixture(autouse=True)
def upload_temp_dir(settings, tmp_path):
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def leftovers(settings, upload_temp_dir):
    """What uploads have left behind: files in the media storage and the temp folder, and rows."""

    def count():
        return {
            "media": files_under(settings.MEDIA_ROOT),
            "temp": files_under(upload_temp_dir),
            "assets": Asset.objects.count(),
            "jobs": ProcessingJob.objects.count(),
        }

    return count


@pytest.fixture
def stored_asset(db):
    """make(owner, colour) -> an uploaded asset with its original and renditions really in storage."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from library.tests import files
    from media_processing.renditions import render_image

    def make(owner, colour=(200, 40, 40)):
        asset, _ = Asset.objects.ingest(owner, SimpleUploadedFile("photo.png", files.png(colour=colour)))
        asset.save(update_fields=render_image(asset))
        return asset

    return make
