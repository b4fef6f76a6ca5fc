"""Fixtures of the import tests: an i2v-shaped SQLite database, i2v's working
folder with real files in it, and a Celery broker in memory (the processing jobs
an import queues send their messages on commit)."""

import pytest

from imports.testing import I2vDatabase
from library.tests.conftest import celery_on
from library.tests.files import png
from media_processing.tests.conftest import tiny_mp4

RED = png((64, 48), (200, 0, 0))
BLUE = png((48, 64), (0, 0, 200))
CLIP = tiny_mp4()


@pytest.fixture(autouse=True)
def memory_broker():
    with celery_on("memory://") as app:
        yield app


@pytest.fixture(autouse=True)
def _logs_and_retries(settings, tmp_path):
    settings.IMPORT_LOG_DIR = tmp_path / "logs"
    settings.REMOTE_FETCH_BACKOFF_SECONDS = 0


@pytest.fixture
def i2v_db(tmp_path):
    db = I2vDatabase.sqlite(tmp_path / "wan_jobs.db").create_schema()
    yield db
    db.close()


@pytest.fixture
def folder(tmp_path):
    """i2v's working folder as someone copied it: downloads/ with pictures, a
    video, a copy of a picture, a text file, and a symlink leading out of it."""
    root = tmp_path / "i2v-folder"
    downloads = root / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "red.png").write_bytes(RED)
    (downloads / "red-again.png").write_bytes(RED)
    (downloads / "blue.png").write_bytes(BLUE)
    (downloads / "clip.mp4").write_bytes(CLIP)
    (downloads / "notes.txt").write_text("not a picture")
    (tmp_path / "private.png").write_bytes(BLUE)
    (downloads / "escape.png").symlink_to(tmp_path / "private.png")
    return root
