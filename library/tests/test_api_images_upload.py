"""POST /api/library/images: uploads are identified by decoding, capped, deduplicated,
stored before the answer and scheduled for processing; a refused file leaves nothing."""

import hashlib
import io
import zlib

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from i2v.models import ApiToken
from library.models import Asset
from library.tests import files
from library.tests.files import post_files, post_raw_names, uploaded
from library.uploads import IMAGE_FORMATS
from media_processing.models import ProcessingJob

MB = 1024 * 1024


def test_it_stores_a_jpeg_and_answers_201_at_once(owner_client, owner, leftovers):
    data = files.jpeg((64, 48))
    response, body = post_files(owner_client, uploaded("holiday.jpg", data, "image/jpeg"))

    assert response.status_code == 201
    [item] = body["items"]
    asset = Asset.objects.get()
    assert item["status"] == 201 and item["duplicate"] is False
    assert item["id"] == asset.id and item["file"] == "holiday.jpg"
    assert item["status_url"] == f"/api/images/{asset.id}/processing-status"
    assert item["thumbnail_url"] is None and item["processing_status"] == "pending"
    assert (asset.owner, asset.kind, asset.source, asset.filename) == (owner, "image", "upload", "holiday.jpg")
    assert (asset.mime, asset.bytes, asset.width, asset.height) == ("image/jpeg", len(data), 64, 48)
    assert asset.sha256 == hashlib.sha256(data).hexdigest()
    # Stored under its content address in its owner's folder, through the storage API, byte for byte.
    assert asset.original.name == f"u/{asset.owner_id}/o/{asset.sha256[:2]}/{asset.sha256}.jpg"
    with default_storage.open(asset.original.name) as f:
        assert f.read() == data
    # Renditions are the worker's job: none made here, two jobs queued, thumbnails first.
    assert asset.renditions == {}
    assert leftovers()["media"] == [asset.original.name]
    assert leftovers()["temp"] == []
    jobs = list(asset.processing_jobs.order_by("priority").values_list("kind", "queue", "status"))
    assert jobs == [("thumbnails", "thumbnails", "queued"), ("variants", "variants", "queued")]


FORMATS = [
    ("a.png", files.png, "image", "image/png", "png", (64, 48)),
    ("a.webp", files.webp, "image", "image/webp", "webp", (32, 32)),
    ("a.gif", lambda: files.animated_gif(20), "image", "image/gif", "gif", (8, 8)),
    ("a.mp4", lambda: files.video("mp4", "libx264"), "video", "video/mp4", "mp4", (64, 48)),
    ("a.mov", lambda: files.video("mov", "libx264"), "video", "video/quicktime", "mov", (64, 48)),
    ("a.webm", lambda: files.video("webm", "libvpx-vp9"), "video", "video/webm", "webm", (64, 48)),
]
if "AVIF" in IMAGE_FORMATS:
    FORMATS.append(("a.avif", files.avif, "image", "image/avif", "avif", (32, 32)))


@pytest.mark.parametrize("name, make, kind, mime, ext, size", FORMATS, ids=[f[0] for f in FORMATS])
def test_it_accepts_every_listed_format(owner_client, name, make, kind, mime, ext, size):
    response, body = post_files(owner_client, uploaded(name, make()))
    assert response.status_code == 201, body
    asset = Asset.objects.get()
    assert (asset.kind, asset.mime, (asset.width, asset.height)) == (kind, mime, size)
    assert asset.original.name.endswith(f".{ext}")
    first = "poster" if kind == "video" else "thumbnails"
    assert asset.processing_jobs.order_by("priority").first().kind == first


def test_it_records_a_videos_duration(owner_client):
    post_files(owner_client, uploaded("clip.mp4", files.video(frames=20)))
    assert Asset.objects.get().duration == pytest.approx(2.0, abs=0.2)


def test_it_trusts_the_bytes_not_the_name_or_the_content_type(owner_client):
    response, _ = post_files(owner_client, uploaded("really-a-png.jpg", files.png(), "video/mp4"))
    assert response.status_code == 201
    asset = Asset.objects.get()
    assert asset.mime == "image/png" and asset.original.name.endswith(".png")
    assert asset.filename == "really-a-png.jpg"  # shown as the user named it


def test_it_records_the_displayed_size_of_an_exif_rotated_jpeg(owner_client):
    post_files(owner_client, uploaded("portrait.jpg", files.exif_rotated_jpeg((60, 20), orientation=6)))
    asset = Asset.objects.get()
    assert (asset.width, asset.height) == (20, 60)


def test_it_accepts_a_whole_jpeg_with_an_exif_thumbnail(owner_client):
    response, body = post_files(owner_client, uploaded("camera.jpg", files.jpeg_with_thumbnail((400, 300))))
    assert response.status_code == 201, body
    assert (Asset.objects.get().width, Asset.objects.get().height) == (400, 300)


@pytest.mark.parametrize("make", [files.cmyk_jpeg, files.png_16bit], ids=["cmyk-jpeg", "16-bit-png"])
def test_it_accepts_cmyk_and_16_bit_images(owner_client, make):
    response, body = post_files(owner_client, uploaded("print.img", make()))
    assert response.status_code == 201, body
    assert (Asset.objects.get().width, Asset.objects.get().height) == (40, 30)


def test_it_accepts_a_polyglot_as_the_jpeg_it_decodes_to_and_serves_it_as_one(owner_client):
    # Decision: a JPEG with a ZIP and an HTML page appended is still a JPEG to
    # every decoder, so it is accepted; it is stored as .jpg and served as
    # image/jpeg with nosniff, so no browser ever treats it as a page.
    response, body = post_files(owner_client, uploaded("cat.html", files.polyglot_jpeg(), "text/html"))
    assert response.status_code == 201, body
    asset = Asset.objects.get()
    assert asset.original.name.endswith(".jpg") and asset.mime == "image/jpeg"
    served = owner_client.get(body["items"][0]["original_url"])
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"


def _truncated(data):
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make", [files.jpeg_with_junk_in_its_header, files.jpeg_with_a_broken_photoshop_segment, files.jpeg_with_a_truncated_app14]
)
def test_it_accepts_jpegs_whose_damaged_headers_pillow_reads_past(owner_client, make):
    data = make()
    with files.Image.open(io.BytesIO(data)) as image:
        image.load()  # Pillow decodes it whole: so must we take it
    response, body = post_files(owner_client, uploaded("photo.jpg", data, "image/jpeg"))
    assert response.status_code == 201, body
    assert (Asset.objects.get().width, Asset.objects.get().height) == (400, 300)


def test_it_refuses_a_jpeg_cut_at_40_percent(owner_client, leftovers):
    data = files.noisy_jpeg((1600, 1200))
    response, body = post_files(owner_client, uploaded("cut.jpg", data[: int(len(data) * 0.4)], "image/jpeg"))
    assert response.status_code == 422 and body["error"]["code"] == "corrupt"
    assert "truncated" in body["error"]["message"]
    assert leftovers()["assets"] == 0


HOSTILE = [
    ("zero bytes", "empty.jpg", lambda: b"", 422, "empty"),
    ("text named .jpg", "notes.jpg", lambda: b"just some text, honestly\n" * 20, 415, "unsupported_format"),
    ("truncated JPEG", "half.jpg", lambda: _truncated(files.noisy_jpeg()), 422, "corrupt"),
    ("JPEG without its last 2 bytes", "cut.jpg", lambda: files.noisy_jpeg()[:-2], 422, "corrupt"),
    ("truncated progressive JPEG", "half.jpg", lambda: _truncated(files.noisy_jpeg(progressive=True)), 422, "corrupt"),
    ("truncated JPEG with an EXIF thumbnail", "half.jpg", lambda: _truncated(files.jpeg_with_thumbnail()), 422, "corrupt"),
    ("truncated PNG", "half.png", lambda: _truncated(files.noisy_png()), 422, "corrupt"),
    ("JPEG magic then garbage", "bad.jpg", lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, 422, "corrupt"),
    # Parameters that would decompress past Pillow's 1 MB for a text chunk: never stored, never processed.
    ("PNG with a zTXt bomb", "big.png", lambda: files.png_with_chunks((b"zTXt", b"parameters\x00\x00" + zlib.compress(b"x " * 600_000))), 422, "corrupt"),
    ("30000x30000 PNG bomb", "bomb.png", files.png_bomb, 413, "too_many_pixels"),
    ("GIF with 3000 frames", "long.gif", lambda: files.animated_gif(3000), 413, "too_many_frames"),
    ("SVG with a script", "logo.svg", files.svg_with_script, 415, "svg"),
    ("SVG named .png", "logo.png", files.svg_with_script, 415, "svg"),
    ("HEIC", "IMG_0001.HEIC", files.heic_like, 415, "heic"),
    ("BMP", "old.bmp", lambda: files.encoded(files.Image.new("RGB", (8, 8)), "BMP"), 415, "unsupported_format"),
    ("audio-only MP4", "song.mp4", files.audio_only_mp4, 415, "no_video"),
    ("H.264 in Matroska", "clip.mkv", lambda: files.video("matroska", "libx264"), 415, "unsupported_format"),
    ("truncated MP4", "clip.mp4", lambda: _truncated(files.video()), 422, "corrupt"),
    ("an HLS playlist", "list.mp4", lambda: b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:1/x.ts\n", 415, "unsupported_format"),
]


@pytest.mark.parametrize("label, name, make, status, code", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_it_refuses_hostile_files_and_leaves_nothing_behind(owner_client, leftovers, label, name, make, status, code):
    before = leftovers()
    response, body = post_files(owner_client, uploaded(name, make(), "image/jpeg"))
    assert response.status_code == status, body
    assert body["error"]["code"] == code and body["error"]["field"] == "files"
    assert body["error"]["message"]
    assert body["items"] == [{"file": name, "status": status, "error": body["error"]}]
    assert leftovers() == before


def test_it_refuses_a_file_over_the_size_cap_while_it_streams(owner_client, settings, leftovers):
    settings.UPLOAD_MAX_BYTES = {"image": 10_000, "video": 20_000}
    response, body = post_files(owner_client, uploaded("big.png", files.noisy_png((200, 200))))
    assert response.status_code == 413
    assert body["error"]["code"] == "too_large" and "upload limit" in body["error"]["message"]
    assert leftovers() == {"media": [], "temp": [], "assets": 0, "jobs": 0}


def test_it_caps_images_and_videos_separately(owner_client, settings, leftovers):
    image, clip = files.noisy_png((100, 100)), files.video()
    settings.UPLOAD_MAX_BYTES = {"image": len(image) - 1, "video": 50 * MB}
    response, body = post_files(owner_client, uploaded("big.png", image))
    assert response.status_code == 413 and "images may be at most" in body["error"]["message"]
    assert leftovers()["media"] == [] and leftovers()["assets"] == 0
    response, _ = post_files(owner_client, uploaded("clip.mp4", clip))
    assert response.status_code == 201


def test_it_caps_pixels_before_decoding(owner_client, settings):
    settings.UPLOAD_MAX_PIXELS = 1000
    response, body = post_files(owner_client, uploaded("a.jpg", files.jpeg((64, 48))))
    assert response.status_code == 413
    assert body["error"]["message"] == "The picture is 64×48 (0 megapixels); the limit is 0.001 megapixels."


def test_it_keeps_folders_and_control_characters_out_of_names(owner_client, owner, settings):
    response, body = post_raw_names(
        owner_client,
        ("../../etc/passwd.jpg", files.jpeg(colour=(1, 1, 1))),
        ("фото 🌅.png", files.png()),
        ("C:\\Users\\me\\evil\u202egnp.exe", files.png(colour=(9, 9, 9))),
    )
    assert response.status_code == 201, body
    assert [i["file"] for i in body["items"]] == ["passwd.jpg", "фото 🌅.png", "evilgnp.exe"]
    names = list(Asset.objects.order_by("id").values_list("filename", "original"))
    assert [n for n, _ in names] == ["passwd.jpg", "фото 🌅.png", "evilgnp.exe"]
    assert all(original.startswith(f"u/{owner.id}/o/") and ".." not in original for _, original in names)
    assert files.files_under(settings.MEDIA_ROOT) == sorted(original for _, original in names)


def test_it_returns_the_existing_asset_for_the_same_bytes(owner_client, leftovers):
    data = files.jpeg()
    _, first = post_files(owner_client, uploaded("one.jpg", data))
    after_first = leftovers()
    response, again = post_files(owner_client, uploaded("renamed-copy.jpg", data))
    assert response.status_code == 200
    assert again["items"][0]["duplicate"] is True
    assert again["items"][0]["id"] == first["items"][0]["id"]
    assert again["items"][0]["file"] == "renamed-copy.jpg" and again["items"][0]["hidden"] is False
    assert leftovers() == after_first  # no second file, row or job
    Asset.objects.update(is_hidden=True)
    assert post_files(owner_client, uploaded("third.jpg", data))[1]["items"][0]["hidden"] is True


def test_it_stores_the_same_bytes_once_per_owner(owner_client, client, other):
    # Two owners' files never share a name: a name must mean nothing to anyone but its owner.
    data = files.jpeg()
    post_files(owner_client, uploaded("mine.jpg", data))
    client.force_login(other)
    response, _ = post_files(client, uploaded("theirs.jpg", data))
    assert response.status_code == 201
    mine, theirs = Asset.objects.order_by("id")
    assert mine.owner_id != theirs.owner_id and mine.sha256 == theirs.sha256
    assert mine.original.name.startswith(f"u/{mine.owner_id}/") and theirs.original.name.startswith(f"u/{theirs.owner_id}/")
    for asset in (mine, theirs):
        with default_storage.open(asset.original.name) as f:
            assert f.read() == data


def test_it_answers_per_file_and_with_the_worst_status_for_many_files(owner_client, leftovers):
    known = files.png()
    post_files(owner_client, uploaded("known.png", known))
    response, body = post_files(
        owner_client,
        uploaded("new.jpg", files.jpeg()),
        uploaded("logo.svg", files.svg_with_script()),
        uploaded("known-again.png", known),
        uploaded("half.png", _truncated(files.noisy_png())),
    )
    assert response.status_code == 422  # worst of 201, 415, 200, 422
    assert [(i["file"], i["status"]) for i in body["items"]] == [
        ("new.jpg", 201), ("logo.svg", 415), ("known-again.png", 200), ("half.png", 422),
    ]  # fmt: skip
    assert body["error"]["message"] == "2 of 4 files were refused; each item says why."
    assert body["error"]["code"] == "corrupt"
    assert leftovers()["assets"] == 2 and leftovers()["temp"] == []


def test_it_answers_201_when_one_of_many_files_is_new(owner_client):
    known = files.png()
    post_files(owner_client, uploaded("known.png", known))
    response, body = post_files(owner_client, uploaded("known.png", known), uploaded("new.jpg", files.jpeg()))
    assert response.status_code == 201 and "error" not in body


def test_it_needs_files_in_the_files_field(owner_client):
    response, body = post_files(owner_client)
    assert response.status_code == 400 and body["error"]["field"] == "files"
    response = owner_client.post("/api/library/images", {"image": uploaded("a.jpg", files.jpeg())})
    assert response.status_code == 400
    response = owner_client.post("/api/library/images", b'{"files": []}', content_type="application/json")
    assert response.status_code == 400


def test_it_answers_400_to_a_broken_multipart_body(owner_client):
    response = owner_client.generic("POST", "/api/library/images", b"--x\r\nnonsense", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "files"


def test_it_answers_401_in_json_without_login(client, db, leftovers):
    response, body = post_files(client, uploaded("a.jpg", files.jpeg()))
    assert response.status_code == 401 and body["error"]["code"] == "unauthenticated"
    assert leftovers()["assets"] == 0


def test_it_checks_csrf_for_browser_sessions(owner, leftovers):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    response, body = post_files(browser, uploaded("a.jpg", files.jpeg()))
    assert response.status_code == 403 and body["error"]["code"] == "csrf_failed"
    assert leftovers()["assets"] == 0 and leftovers()["media"] == []
    browser.get("/library/")  # sets the CSRF cookie, as the page does
    token = browser.cookies["csrftoken"].value
    response, _ = post_files(browser, uploaded("a.jpg", files.jpeg()), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_it_accepts_a_bearer_token_without_csrf(owner):
    token = ApiToken.issue(owner)
    script = Client(enforce_csrf_checks=True)
    response, _ = post_files(script, uploaded("a.jpg", files.jpeg()), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201
    assert Asset.objects.get().owner == owner


def test_it_refuses_other_methods(owner_client):
    response = owner_client.delete("/api/library/images")
    assert response.status_code == 405 and response["Allow"] == "GET, POST, HEAD"


def test_it_still_stores_the_upload_with_the_broker_down(owner_client, dead_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response, body = post_files(owner_client, uploaded("a.jpg", files.jpeg()))
    assert response.status_code == 201, body
    asset = Asset.objects.get()
    assert default_storage.exists(asset.original.name)
    # Each job's send() ran after the commit, found no broker, and left its row
    # queued with no message in flight (sent_at unset), for the sweeper to send.
    jobs = ProcessingJob.objects.filter(asset=asset)
    assert [(j.status, j.sent_at) for j in jobs] == [("queued", None), ("queued", None)]


def test_it_removes_the_stored_file_when_the_database_write_fails(owner_client, monkeypatch, leftovers):
    def broken(asset):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ProcessingJob.objects, "schedule_upload", broken)
    with pytest.raises(RuntimeError):
        post_files(owner_client, uploaded("a.jpg", files.jpeg()))
    assert leftovers() == {"media": [], "temp": [], "assets": 0, "jobs": 0}


def test_it_limits_how_fast_one_user_uploads(owner_client, owner, settings):
    # A day's window: none ends between these requests (a minute's did once, in CI).
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads": "2/86400"}
    for n in range(2):
        response, _ = post_files(owner_client, uploaded(f"{n}.jpg", files.jpeg((8 + n, 8)), "image/jpeg"))
        assert response.status_code == 201
    response, body = post_files(owner_client, uploaded("2.jpg", files.jpeg((20, 8)), "image/jpeg"))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert body["error"]["code"] == "rate_limited"
    assert Asset.objects.count() == 2
    # Listing is not an upload.
    assert owner_client.get("/api/library/images").status_code == 200
