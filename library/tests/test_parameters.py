"""library/parameters.py: generation parameters written into PNG, JPEG and WebP files and read back."""

import io

import pytest
from PIL import Image, PngImagePlugin

from jobs.providers.base import GeneratedFile
from library import parameters
from library.models import Asset

TEXT = parameters.format_text(
    "a red fox, at dusk — “golden” hour",
    {"Steps": 30, "CFG scale": 4.5, "Seed": 42, "Size": "64x48", "Model": "fal-ai/flux-pro/kontext", "Generator": "i2v"},
    negative_prompt="blurry, low quality",
)
FORMATS = [("PNG", "image/png", "png", {}), ("JPEG", "image/jpeg", "jpg", {"quality": 90}),
           ("WEBP", "image/webp", "webp", {}), ("WEBP", "image/webp", "webp", {"lossless": True})]  # fmt: skip


def encoded(fmt, mode="RGB", **options):
    buffer = io.BytesIO()
    Image.new(mode, (64, 48), (200, 80, 20)).save(buffer, fmt, **options)
    return buffer.getvalue()


def test_it_writes_the_a1111_text():
    assert TEXT == (
        "a red fox, at dusk — “golden” hour\n"
        "Negative prompt: blurry, low quality\n"
        "Steps: 30, CFG scale: 4.5, Seed: 42, Size: 64x48, Model: fal-ai/flux-pro/kontext, Generator: i2v"
    )


def test_it_parses_a1111_text_with_quoted_values():
    parsed = parameters.parse_text('masterpiece, a cat\nwith a hat\nNegative prompt: ugly\nSteps: 20, Sampler: Euler a, Seed: 7, Lora hashes: "a: 1, b: 2", Model: sdxl')
    assert parsed["prompt"] == "masterpiece, a cat\nwith a hat" and parsed["negative_prompt"] == "ugly"
    assert parsed["settings"] == {"Steps": "20", "Sampler": "Euler a", "Seed": "7", "Lora hashes": "a: 1, b: 2", "Model": "sdxl"}


def test_it_keeps_a_quoted_value_as_written_when_it_would_be_a_lone_surrogate():
    # JSON reads "\ud800" as half a character, which no page or JSON answer can encode (the viewer's panel was a 500).
    parsed = parameters.parse_text('a fox\nSeed: 1, Scheduler: "\\ud800k", Sampler: "\\u00e9, a"')
    assert parsed["settings"] == {"Seed": "1", "Scheduler": '"\\ud800k"', "Sampler": "é, a"}


def test_it_reads_a_key_only_where_a_word_starts_and_no_longer_than_a_key_is():
    # Unbounded, a key was tried from each place of a line to its end and back: 5.5 s for 32 KB of "x".
    parsed = parameters.parse_text("a fox\n" + "x" * 100 + ": 1, Steps: 3, _Seed: 4, Hires upscale by: 2")
    assert parsed["settings"] == {"Steps": "3", "Hires upscale by": "2"}
    assert parameters.parse_text("x" * 32768)["prompt"] == "x" * 32768


def test_it_drops_lone_surrogates_which_no_page_or_column_can_encode():
    parsed = parameters.parse_text("a \ud800fox\udfff\nNegative prompt: \udc00blur\nSteps: 3, Seed: 4")
    assert (parsed["prompt"], parsed["negative_prompt"], parsed["raw"]) == ("a fox", "blur", "a fox\nNegative prompt: blur\nSteps: 3, Seed: 4")


def test_it_reads_text_without_settings_as_a_prompt():
    assert parameters.parse_text("just a caption") == {"prompt": "just a caption", "negative_prompt": "", "settings": {}, "raw": "just a caption"}
    assert parameters.parse_text("") is None


def test_it_drops_control_characters_and_reads_windows_line_ends():
    # A NUL in a file's prompt reached the viewer's alt attribute (an HTML parse error).
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", "a fox\x00 at\x1b dusk\r\nNegative prompt: blur\x7f\r\nSteps: 3, Seed: 4\x00")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=info)
    parsed = parameters.read(io.BytesIO(buffer.getvalue()))
    assert parsed["prompt"] == "a fox at dusk" and parsed["negative_prompt"] == "blur"
    assert parsed["settings"] == {"Steps": "3", "Seed": "4"}
    assert parameters.parse_text("\x00\x01 \x02") is None


@pytest.mark.parametrize("fmt,mime,ext,options", FORMATS)
def test_it_round_trips_through_each_format_without_touching_the_pixels(fmt, mime, ext, options):
    original = encoded(fmt, **options)
    carried = parameters.embed(original, mime, TEXT)
    assert carried != original
    parsed = parameters.read(io.BytesIO(carried))
    assert parsed["prompt"] == "a red fox, at dusk — “golden” hour"
    assert parsed["negative_prompt"] == "blurry, low quality"
    assert parsed["settings"]["Seed"] == "42" and parsed["settings"]["Model"] == "fal-ai/flux-pro/kontext"
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(carried)) as after:
        assert after.tobytes() == before.tobytes()


def test_it_writes_a_png_text_chunk_named_parameters():
    carried = parameters.embed(encoded("PNG"), "image/png", "a fox\nSteps: 1, Seed: 2, Model: m")
    with Image.open(io.BytesIO(carried)) as im:
        assert im.info["parameters"] == "a fox\nSteps: 1, Seed: 2, Model: m"
    assert b"tEXtparameters\x00a fox" in carried  # Latin-1 text in a tEXt chunk, as A1111 writes it


def test_it_writes_xmp_that_pillow_and_viewers_read():
    carried = parameters.embed(encoded("JPEG"), "image/jpeg", "a <b>&fox\nSeed: 2, Model: m")
    with Image.open(io.BytesIO(carried)) as im:
        xmp = im.info["xmp"]
    assert b"<dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">a &lt;b&gt;&amp;fox" in xmp


def test_it_reads_the_exif_user_comment_a1111_writes_in_jpegs():
    image = Image.new("RGB", (32, 32))
    exif = image.getexif()
    exif.get_ifd(parameters.IFD.Exif)[parameters.USER_COMMENT] = b"UNICODE\x00" + "a cat\nSteps: 20, Seed: 5, Model: sd".encode("utf-16-be")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert parameters.read(io.BytesIO(buffer.getvalue()))["settings"]["Seed"] == "5"


def test_it_reads_a_png_s_exif_user_comment_without_decoding_its_picture(monkeypatch):
    image = Image.new("RGB", (32, 32))
    exif = image.getexif()
    exif.get_ifd(parameters.IFD.Exif)[parameters.USER_COMMENT] = b"ASCII\x00\x00\x00a cat\nSteps: 20, Seed: 7, Model: sd"
    with_comment, plain = io.BytesIO(), io.BytesIO()
    image.save(with_comment, "PNG", exif=exif.tobytes())
    image.save(plain, "PNG")
    decoded = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda im: decoded.append(im) or Image.Image.load(im))
    assert parameters.read(io.BytesIO(with_comment.getvalue()))["settings"]["Seed"] == "7"
    assert parameters.read(io.BytesIO(plain.getvalue())) is None
    assert decoded == []  # a 100-megapixel picture would have cost 400 MB and a second, on each view


@pytest.mark.parametrize(
    "data,mime",
    [(b"not an image", "image/png"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
     (b"RIFF\x04\x00\x00\x00WEBP", "image/webp"), (b"video bytes", "video/mp4")],
)  # fmt: skip
def test_it_leaves_files_it_cannot_write_into_unchanged(data, mime):
    assert parameters.embed(data, mime, TEXT) == data


def test_it_reads_nothing_from_broken_or_hostile_files():
    assert parameters.read(io.BytesIO(b"garbage")) is None
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    hostile = parameters.embed(encoded("JPEG"), "image/jpeg", "x")
    hostile = hostile.replace(b"<x:xmpmeta", bomb + b"<x:xmpmeta", 1)
    assert parameters._from_xmp(b"<x:xmpmeta><broken") is None
    assert parameters.read(io.BytesIO(hostile)) is None or parameters.read(io.BytesIO(hostile))["prompt"] == "x"


@pytest.mark.parametrize("fmt,mime,ext,options", FORMATS)
def test_it_stores_generated_images_with_their_parameters_inside(owner, fmt, mime, ext, options):
    data = encoded(fmt, **options)
    file = GeneratedFile(data=data, mime=mime, extension=ext, width=64, height=48)
    asset = Asset.objects.store_generated(owner.id, file, "a red fox", TEXT)
    with asset.original.open("rb") as f:
        stored = f.read()
    assert asset.bytes == len(stored) > len(data)
    assert asset.read_parameters()["settings"]["Seed"] == "42"
