"""GET /media/<name>: a stored file, for its owner (and staff) only, with Range support.

Served here by Django itself (the embedded default's backend, i2v.lib.ranges);
test_media_nginx.py runs the same checks through nginx, test_media_s3.py
through presigned S3 URLs.
"""

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_sendfile.utils import _get_sendfile

from i2v.models import ApiToken
from library.media import original_name, rendition_name

VIDEO = bytes(range(256)) * 40  # 10,240 bytes whose every offset is recognisable


def stored(name, data):
    assert default_storage.save(name, ContentFile(data)) == name
    return name


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def video(owner):
    sha = hashlib.sha256(VIDEO).hexdigest()
    return stored(original_name(owner.id, sha, "mp4"), VIDEO)


@pytest.fixture
def thumb(owner):
    data = b"\xff\xd8\xff a rendition"
    return stored(rendition_name(owner.id, "ab" * 32, hashlib.sha256(data).hexdigest(), "jpg"), data)


@pytest.fixture
def backend(settings):
    """Switch django-sendfile2's backend (it caches the one it loaded)."""

    def use(name):
        settings.SENDFILE_BACKEND = name
        _get_sendfile.cache_clear()

    yield use
    _get_sendfile.cache_clear()


def test_it_serves_the_owner_their_original_with_private_immutable_caching(owner_client, video):
    response = owner_client.get(f"/media/{video}")
    assert response.status_code == 200
    assert body(response) == VIDEO
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(VIDEO))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_it_serves_the_owner_their_renditions(owner_client, thumb):
    response = owner_client.get(f"/media/{thumb}")
    assert response.status_code == 200
    assert body(response) == b"\xff\xd8\xff a rendition"
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"


def test_it_is_a_404_for_another_user_whether_or_not_the_file_exists(client, other, owner, video, thumb):
    client.force_login(other)
    missing = original_name(owner.id, "cd" * 32, "jpg")
    for name in (video, thumb, missing):
        response = client.get(f"/media/{name}")
        assert response.status_code == 404, name
        assert b"Not Found" in response.content and b"u/" not in response.content


def test_it_is_a_404_for_another_users_token(client, other, video):
    token = ApiToken.issue(other)
    assert client.get(f"/media/{video}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404


def test_it_serves_the_owners_token(client, owner, video):
    token = ApiToken.issue(owner)
    response = client.get(f"/media/{video}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and body(response) == VIDEO


def test_it_refuses_anonymous_requests(client, video):
    response = client.get(f"/media/{video}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"Log in" in response.content


def test_it_serves_staff_anyones_files(client, owner, video):
    staff = get_user_model().objects.create_user("carol", password="carol-password-1", is_staff=True)
    client.force_login(staff)
    response = client.get(f"/media/{video}")
    assert response.status_code == 200 and body(response) == VIDEO


@pytest.mark.parametrize(
    "name",
    [
        "../secret_key",
        "u/{id}/../secret_key",
        "u/{id}/o/../../../secret_key",
        "u/{id}/o/ab/../../{other}/o/x.jpg",
        "u/{id}/x/ab/" + "ab" * 32 + ".jpg",
        "u/0{id}/o/ab/" + "ab" * 32 + ".jpg",
        "secret_key",
        "",
    ],
)
def test_it_serves_nothing_outside_the_known_layouts(owner_client, owner, other, name):
    name = name.format(id=owner.id, other=other.id)
    assert owner_client.get(f"/media/{name}").status_code == 404


def test_it_serves_files_of_the_old_shared_layout_to_staff_only(owner_client, client, owner):
    # Until `manage.py scope_media` has copied them into their owners' folders (see test_scope_media.py).
    name = stored("originals/ab/" + "ab" * 32 + ".jpg", b"old")
    assert owner_client.get(f"/media/{name}").status_code == 404
    client.force_login(get_user_model().objects.create_user("carol", is_staff=True))
    assert body(client.get(f"/media/{name}")) == b"old"


def test_it_is_a_404_for_the_owners_missing_file(owner_client, owner):
    assert owner_client.get(f"/media/{original_name(owner.id, 'ef' * 32, 'jpg')}").status_code == 404


def test_it_refuses_writes(owner_client, video):
    assert owner_client.post(f"/media/{video}").status_code == 405
    assert owner_client.delete(f"/media/{video}").status_code == 405


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-1", 0, 1),  # Safari's first probe
        ("bytes=100-", 100, len(VIDEO) - 1),  # what players ask for when seeking
        ("bytes=100-199", 100, 199),
        ("bytes=-300", len(VIDEO) - 300, len(VIDEO) - 1),
        ("bytes=10000-99999", 10000, len(VIDEO) - 1),  # clipped at the end
    ],
)
def test_it_answers_a_range_with_206_and_those_bytes(owner_client, video, header, first, last):
    response = owner_client.get(f"/media/{video}", HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == VIDEO[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(VIDEO)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"


def test_it_answers_416_to_a_range_past_the_end(owner_client, video):
    response = owner_client.get(f"/media/{video}", HTTP_RANGE=f"bytes={len(VIDEO)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(VIDEO)}"
    assert response["Content-Length"] == "0" and body(response) == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=-", "bytes=" + "9" * 40 + "-"])
def test_it_sends_the_whole_file_for_ranges_it_does_not_serve(owner_client, video, header):
    response = owner_client.get(f"/media/{video}", HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == VIDEO


def test_it_checks_the_owner_before_a_range(client, other, video):
    client.force_login(other)
    assert client.get(f"/media/{video}", HTTP_RANGE="bytes=0-1").status_code == 404


def test_it_hands_the_file_to_nginx_with_x_accel_redirect(owner_client, client, other, video, backend, settings):
    backend("django_sendfile.backends.nginx")
    response = owner_client.get(f"/media/{video}")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"{settings.SENDFILE_URL}/{video}"
    assert response.content == b""  # nginx sends the bytes (and answers ranges)
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    client.force_login(other)
    refused = client.get(f"/media/{video}")
    assert refused.status_code == 404 and not refused.has_header("X-Accel-Redirect")
