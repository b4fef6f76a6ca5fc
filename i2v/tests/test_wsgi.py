"""i2v/wsgi.py: a request's environ never carries the server process's environment, and what
the application loaded is out of the garbage collector's sight."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from i2v.wsgi import without_process_environment


def _environ(**extra):
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "a=1", "REMOTE_ADDR": "10.0.0.1",
            "HTTP_HOST": "example.com", "wsgi.input": io.BytesIO(), **extra}  # fmt: skip


def test_it_drops_the_process_environment_and_keeps_the_request():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return [b""]

    wrapped = without_process_environment(app, ["SECRET_KEY", "DATABASE_URL", "PATH_INFO", "HTTP_HOST", "REMOTE_ADDR"])
    wrapped(_environ(SECRET_KEY="s3cret", DATABASE_URL="postgres://u:pw@db/x"), None)

    assert "SECRET_KEY" not in seen and "DATABASE_URL" not in seen
    assert seen["PATH_INFO"] == "/" and seen["HTTP_HOST"] == "example.com" and seen["REMOTE_ADDR"] == "10.0.0.1"


@pytest.mark.django_db
def test_it_wraps_the_application_the_servers_run():
    from django.test import RequestFactory

    from i2v.wsgi import application

    environ = RequestFactory().get("/healthz").environ
    environ["PATH"] = "/usr/bin"  # in every process's environment, so in the names it drops
    statuses = []
    b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses
    assert "PATH" not in environ and environ["PATH_INFO"] == "/healthz"


def test_it_freezes_what_the_application_loaded_out_of_the_collectors_sight():
    loaded = subprocess.run(
        [sys.executable, "-c", "import gc, i2v.wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "DJANGO_SETTINGS_MODULE": "i2v.settings"},
    )
    frozen, tracked = map(int, loaded.stdout.split())
    assert frozen > 50_000 and tracked < 1_000, loaded.stdout


def test_it_loads_every_providers_sdk_before_the_first_request():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, i2v.wsgi; print(' '.join(sorted(m for m in sys.modules if m.startswith(('openai', 'google.genai', 'replicate')))))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "DJANGO_SETTINGS_MODULE": "i2v.settings"},
    )
    modules = set(loaded.stdout.split())
    assert {"openai", "google.genai", "replicate"} <= modules, loaded.stdout[:300]
