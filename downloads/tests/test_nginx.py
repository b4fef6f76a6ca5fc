"""Downloads through the real front server (Debian's nginx with deploy/nginx/i2v.conf.template):
one file is sent by nginx under its readable name, and a zip streams through it whole."""

import io
import zipfile

import pytest

from library.tests.test_media_nginx import nginx, session, static_root  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_has_nginx_send_one_file_under_its_name(nginx, client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=1, prompt="a red fox", model="flux-kontext")
    status, headers, body = nginx(f"/downloads/outputs/{p.outputs.get().id}", session(client, owner))
    assert status == 200 and body == f"file {p.id}-0".encode()
    assert headers["content-disposition"] == 'attachment; filename="01_a-red-fox_flux-kontext_42.jpg"'
    assert "x-accel-redirect" not in headers


def test_it_streams_a_zip_through_nginx(nginx, client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=3)
    status, headers, body = nginx(f"/downloads/zip?pipelines={p.id}", session(client, owner))
    assert status == 200 and headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None and len(archive.namelist()) == 5


def test_it_refuses_someone_elses_file_through_nginx(nginx, client, owner, other, stored_pipeline):
    theirs = stored_pipeline(other, outputs=1)
    status, _, _ = nginx(f"/downloads/outputs/{theirs.outputs.get().id}", session(client, owner))
    assert status == 404
