"""Media on S3 (django-storages): the app checks the owner and redirects to a presigned URL,
fetched here for real from a local S3-protocol server (moto in server mode, on loopback)."""

import hashlib
import itertools
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from library import collector
from library.media import original_name
from library.models import Asset, stored_names
from library.tests import files
from media_processing.renditions import render_image

KEYS = {"access_key": "testing", "secret_key": "testing"}
LATER = timedelta(seconds=django_settings.MEDIA_GC_GRACE_SECONDS + 1)
_buckets = itertools.count(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def bucket(s3_endpoint, settings):
    """A fresh private bucket, and the app's default storage on it (as AWS_STORAGE_BUCKET_NAME sets it up)."""
    name = f"i2v-media-{next(_buckets)}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "addressing_style": "path",
                "signature_version": "s3v4", "querystring_auth": True, "querystring_expire": 3600, "default_acl": None, **KEYS,
            },
        },
    }  # fmt: skip
    settings.MEDIA_URL_EXPIRE_SECONDS = 3600
    return lambda: {o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])}


def fetch(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def uploaded(owner, data):
    asset, _ = Asset.objects.ingest(owner, SimpleUploadedFile("photo.png", data))
    asset.save(update_fields=render_image(asset))  # as the worker does, through the storage API
    return asset


def test_it_redirects_the_owner_to_a_presigned_url_that_serves_the_file(bucket, owner_client, owner):
    data = files.png()
    asset = uploaded(owner, data)
    assert asset.original.name in bucket() and not default_storage.exists(f"originals/{asset.sha256[:2]}/{asset.sha256}.png")

    response = owner_client.get(asset.original_url)
    assert response.status_code == 302
    location = response["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=3600" in location
    assert response["Cache-Control"] == "private, max-age=1800"  # the browser reuses the redirect, not the signing
    status, headers, body = fetch(location)
    assert (status, body) == (200, data)
    assert headers["Cache-Control"] == "private, max-age=31536000, immutable"


def test_it_serves_renditions_made_on_s3(bucket, owner_client, owner):
    asset = uploaded(owner, files.png(size=(400, 300)))
    entry = asset.renditions["300"]
    assert entry["name"] in bucket()
    status, headers, body = fetch(owner_client.get(asset.rendition_300["url"])["Location"])
    assert status == 200 and body.startswith(b"\xff\xd8\xff")


def test_it_answers_ranges_through_the_presigned_url(bucket, owner_client, owner):
    data = bytes(range(256)) * 64
    name = original_name(owner.id, hashlib.sha256(data).hexdigest(), "mp4")
    default_storage.save(name, ContentFile(data))
    status, headers, body = fetch(owner_client.get(f"/media/{name}")["Location"], {"Range": "bytes=100-199"})
    assert (status, body) == (206, data[100:200])
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"


def test_it_signs_nothing_for_another_user_or_anonymous(bucket, client, owner, other):
    asset = uploaded(owner, files.png())
    anonymous = client.get(asset.original_url)
    assert anonymous.status_code == 401 and not anonymous.has_header("Location")
    client.force_login(other)
    for url in (asset.original_url, asset.original_url.replace(asset.sha256, "ab" * 32)):
        response = client.get(url)
        assert response.status_code == 404 and not response.has_header("Location")


def test_it_deletes_the_objects_once_collected(bucket, owner_client, owner, other):
    data = files.png()
    mine, theirs = uploaded(owner, data), uploaded(other, data)
    response = owner_client.post("/api/images/delete", {"ids": [mine.id]}, content_type="application/json")
    assert response.status_code == 200
    collector.collect()
    left = bucket()
    assert not set(stored_names(mine.original.name, mine.renditions)) & left
    assert set(stored_names(theirs.original.name, theirs.renditions)) <= left


def test_it_scans_the_bucket_for_unreferenced_objects(bucket, owner):
    asset = uploaded(owner, files.png())
    orphan = default_storage.save(original_name(owner.id, "ef" * 32, "png"), ContentFile(b"left by a crash"))
    assert collector.collect(scan=True).found == 1
    assert collector.collect(now=timezone.now() + LATER).deleted == 1
    assert orphan not in bucket() and asset.original.name in bucket()
