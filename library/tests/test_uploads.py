"""library/uploads.py on its own: the streaming handler, display names, header probing."""

import hashlib
import os

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from PIL import Image

from library.tests import files
from library.uploads import HashingUploadHandler, UploadRejected, display_name, identify


def stream(handler, data, chunk=64 * 1024, name="a.bin"):
    handler.new_file("files", name, "application/octet-stream", len(data))
    for start in range(0, len(data), chunk):
        handler.receive_data_chunk(data[start : start + chunk], start)
    return handler.file_complete(len(data))


def test_it_streams_even_a_tiny_file_to_disk_and_hashes_it(settings):
    upload = stream(HashingUploadHandler(), b"tiny")
    assert isinstance(upload, TemporaryUploadedFile)  # never a whole file in memory, whatever its size
    assert os.path.dirname(upload.temporary_file_path()) == settings.FILE_UPLOAD_TEMP_DIR
    assert upload.sha256 == hashlib.sha256(b"tiny").hexdigest()
    assert upload.read() == b"tiny" and upload.size == 4 and not upload.too_large
    upload.close()


def test_it_stops_writing_past_the_cap_and_drops_what_it_wrote(settings, upload_temp_dir):
    settings.UPLOAD_MAX_BYTES = {"image": 100_000, "video": 150_000}
    handler = HashingUploadHandler()
    upload = stream(handler, os.urandom(400_000), chunk=10_000)
    assert upload.too_large and upload.size == 400_000
    assert os.path.getsize(upload.temporary_file_path()) == 0
    upload.close()
    assert files.files_under(upload_temp_dir) == []


def test_it_deletes_the_temporary_file_of_an_interrupted_upload(upload_temp_dir):
    handler = HashingUploadHandler()
    handler.new_file("files", "a.jpg", "image/jpeg", None)
    handler.receive_data_chunk(b"x" * 1000, 0)
    assert len(files.files_under(upload_temp_dir)) == 1
    handler.upload_interrupted()
    assert files.files_under(upload_temp_dir) == []


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\win.ini.png", "win.ini.png"),
        ("фото 🌅.png", "фото 🌅.png"),
        ("e\u0301te\u0301.jpg", "été.jpg"),  # one normal form, so searches match
        ("tab\tnew\nline\x00.jpg", "tab new line.jpg"),
        ("photo\u202egpj.exe", "photogpj.exe"),  # no right-to-left trickery
        ("👨\u200d👩\u200d👧.png", "👨\u200d👩\u200d👧.png"),  # joiners inside emoji stay
        ("  .hidden.png. ", "hidden.png"),
        ("", "upload"),
        ("../", "upload"),
    ],
)
def test_it_makes_names_safe_to_show(raw, shown):
    assert display_name(raw) == shown


def test_it_caps_long_names_but_keeps_the_extension():
    name = display_name("a" * 500 + ".jpeg")
    assert len(name) == 200 and name.endswith("a.jpeg")
    assert len(display_name("b" * 500)) == 200


def _temporary(data, name="x"):
    upload = stream(HashingUploadHandler(), data, name=name)
    return upload


def test_it_reads_the_oriented_size_of_a_png_without_decoding_it():
    exif = Image.Exif()
    exif[0x0112] = 8
    upload = _temporary(files.encoded(Image.new("RGB", (30, 10)), "PNG", exif=exif))
    probe = identify(upload)
    assert (probe.kind, probe.mime, probe.width, probe.height) == ("image", "image/png", 10, 30)
    upload.close()


def test_it_takes_a_camera_mpo_for_a_jpeg():
    frames = [Image.new("RGB", (40, 30), (200, 0, 0)), Image.new("RGB", (40, 30), (0, 200, 0))]
    upload = _temporary(files.encoded(frames[0], "MPO", save_all=True, append_images=frames[1:]))
    probe = identify(upload)
    assert (probe.mime, probe.ext, probe.width, probe.height) == ("image/jpeg", "jpg", 40, 30)
    upload.close()


def test_it_refuses_too_many_pixels_in_a_video(settings):
    settings.UPLOAD_MAX_PIXELS = 64 * 48 - 1
    upload = _temporary(files.video())
    with pytest.raises(UploadRejected) as refused:
        identify(upload)
    assert refused.value.status == 413 and refused.value.code == "too_many_pixels"
    upload.close()
