"""Media and static files through the real front server: Debian's nginx, running the
project's own configuration (deploy/nginx/i2v.conf.template) in front of the app on
pytest-django's live server, with MEDIA_SENDFILE=nginx (django-sendfile2's nginx backend).

.ci/run installs nginx; elsewhere these tests are skipped when it is missing.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.test import override_settings
from django_sendfile.utils import _get_sendfile

from library.media import original_name, rendition_name

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = Path(django_settings.BASE_DIR) / "deploy" / "nginx" / "i2v.conf.template"
MIME_TYPES = "/etc/nginx/mime.types"
VIDEO = bytes(range(256)) * 64  # 16 KB whose every offset is recognisable

pytestmark = pytest.mark.django_db(transaction=True)


def render(template, values):
    """What envsubst does in the nginx image: ${NAME} replaced, nginx's own $variables left alone."""
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values[m.group(1)], template)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, process, log):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx stopped: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not start listening")


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """collectstatic as production runs it (hashed names from the manifest, .gz copies), once."""
    root = tmp_path_factory.mktemp("static")
    storages = {**django_settings.STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


@pytest.fixture
def nginx(live_server, settings, tmp_path, static_root):
    """nginx on a free loopback port with the project's configuration; yields a request function."""
    if not os.path.exists(NGINX):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required in CI (apt-get install nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    settings.SENDFILE_BACKEND = "django_sendfile.backends.nginx"
    _get_sendfile.cache_clear()
    # The live server answers MEDIA_URL and STATIC_URL from the disk itself, as a test
    # convenience; production's app doesn't: give it the bare application.
    server_app = live_server.thread.httpd.get_app()
    live_server.thread.httpd.set_app(WSGIHandler())
    port = free_port()
    server = render(
        TEMPLATE.read_text(),
        {
            "I2V_LISTEN": f"127.0.0.1:{port}",
            "I2V_UPSTREAM": f"127.0.0.1:{live_server.thread.port}",
            "I2V_STATIC_ROOT": str(static_root),
            "I2V_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "I2V_MAX_BODY_SIZE": "210m",
            "I2V_TLS": "",
        },
    )
    run = tmp_path / "nginx"
    run.mkdir()
    (run / "i2v.conf").write_text(server)
    # The http context around it, as the nginx image's own nginx.conf gives; files under tmp.
    (run / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must read pytest's private tmp folders
        + f"pid {run}/nginx.pid;\nerror_log {run}/error.log;\nevents {{ worker_connections 64; }}\n"
        + f"http {{\n include {MIME_TYPES};\n default_type application/octet-stream;\n access_log {run}/access.log;\n"
        + "".join(f" {kind}_temp_path {run}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f" include {run}/i2v.conf;\n}}\n"
    )
    check = subprocess.run([NGINX, "-t", "-p", str(run), "-c", str(run / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([NGINX, "-p", str(run), "-c", str(run / "nginx.conf"), "-g", "daemon off;"])
    try:
        wait_for(port, process, run / "error.log")

        def request(path, headers=None, method="GET"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request(method, path, headers=headers or {})
                response = conn.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            finally:
                conn.close()

        yield request
    finally:
        process.terminate()
        process.wait(10)
        live_server.thread.httpd.set_app(server_app)
        _get_sendfile.cache_clear()


def session(client, user):
    client.force_login(user)
    return {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"}


@pytest.fixture
def video(owner):
    name = original_name(owner.id, hashlib.sha256(VIDEO).hexdigest(), "mp4")
    default_storage.save(name, ContentFile(VIDEO))
    return name


@pytest.fixture
def thumb(owner):
    data = b"\xff\xd8\xff a rendition"
    name = rendition_name(owner.id, "ab" * 32, hashlib.sha256(data).hexdigest(), "jpg")
    default_storage.save(name, ContentFile(data))
    return name


def test_it_hands_the_owners_file_to_nginx_which_sends_it(nginx, client, owner, video, thumb):
    status, headers, body = nginx(f"/media/{video}", session(client, owner))
    assert status == 200 and body == VIDEO
    assert "x-accel-redirect" not in headers, "nginx honoured it instead of passing it on"
    assert headers["content-type"] == "video/mp4"
    assert headers["cache-control"] == "private, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]
    status, headers, body = nginx(f"/media/{thumb}", session(client, owner))
    assert (status, body, headers["content-type"]) == (200, b"\xff\xd8\xff a rendition", "image/jpeg")


def test_it_refuses_other_users_and_anonymous_requests(nginx, client, owner, other, video):
    missing = original_name(owner.id, "cd" * 32, "mp4")
    for name in (video, missing):
        status, headers, body = nginx(f"/media/{name}", session(client, other))
        assert status == 404 and VIDEO[:64] not in body, name
    status, _, body = nginx(f"/media/{video}")
    assert status == 401 and VIDEO[:64] not in body


def test_it_serves_staff_through_nginx(nginx, client, video):
    staff = get_user_model().objects.create_user("carol", is_staff=True)
    status, _, body = nginx(f"/media/{video}", session(client, staff))
    assert status == 200 and body == VIDEO


def test_it_refuses_direct_requests_for_the_internal_location(nginx, client, owner, video):
    for headers in ({}, session(client, owner)):
        status, _, body = nginx(f"/_protected/{video}", headers)
        assert status == 404 and VIDEO[:64] not in body


@pytest.mark.parametrize(
    "header, first, last",
    [("bytes=0-1", 0, 1), ("bytes=100-", 100, len(VIDEO) - 1), ("bytes=1000-1999", 1000, 1999), ("bytes=-300", len(VIDEO) - 300, len(VIDEO) - 1)],
)
def test_it_answers_ranges_with_206_and_those_bytes(nginx, client, owner, video, header, first, last):
    status, headers, body = nginx(f"/media/{video}", {**session(client, owner), "Range": header})
    assert status == 206
    assert body == VIDEO[first : last + 1]
    assert headers["content-range"] == f"bytes {first}-{last}/{len(VIDEO)}"
    assert headers["content-length"] == str(last - first + 1)


def test_it_caches_hashed_static_files_for_a_year_and_the_others_for_an_hour(nginx, static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["css/app.css"]
    status, headers, body = nginx(f"/static/{hashed}")
    assert status == 200 and body == (static_root / hashed).read_bytes()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "text/css"
    status, headers, _ = nginx("/static/css/app.css")
    assert status == 200 and headers["cache-control"] == "public, max-age=3600"
    status, headers, body = nginx(f"/static/{hashed}", {"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip" and body == (static_root / f"{hashed}.gz").read_bytes()
    assert nginx("/static/css/missing.css")[0] == 404


def test_it_passes_pages_to_the_app(nginx, client, owner):
    status, headers, body = nginx("/library/", session(client, owner))
    assert status == 200 and b'id="grid"' in body
    status, headers, _ = nginx("/library/")
    assert status == 302 and headers["location"].startswith("/login/")
