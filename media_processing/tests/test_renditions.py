import hashlib
import io
import random

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from library.media import rendition_name
from library.models import Asset
from media_processing.renditions import UPDATED_FIELDS, render_image

# Storing a rendition first withdraws its name from the media collector: a query.
pytestmark = pytest.mark.django_db

OWNER_ID = 7


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def encoded(image, fmt, **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def stored_asset(data, ext):
    """An unsaved Asset whose original is in storage."""
    asset = Asset(owner_id=OWNER_ID, sha256=hashlib.sha256(data).hexdigest(), filename=f"x.{ext}")
    asset.original.save(asset.filename, ContentFile(data), save=False)
    return asset


def photo_like(size):
    """Shapes, a gradient and grain: compresses like a photo, not like a flat colour."""
    rng = random.Random(7)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(10, 150)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    grain = Image.frombytes("L", size, rng.randbytes(size[0] * size[1])).convert("RGB")
    return Image.blend(image, grain, 0.1)


def opened(entry):
    with default_storage.open(entry["name"]) as f:
        image = Image.open(f)
        image.load()
    return image


def stored_renditions():
    folders, _ = default_storage.listdir(f"u/{OWNER_ID}/r")
    return [name for folder in folders for name in default_storage.listdir(f"u/{OWNER_ID}/r/{folder}")[1]]


def test_it_makes_three_sizes_from_a_png():
    asset = stored_asset(encoded(photo_like((1024, 1024)), "PNG"), "png")

    fields = render_image(asset)

    assert fields == UPDATED_FIELDS
    assert (asset.width, asset.height) == (1024, 1024)
    assert asset.thumbnail_status == asset.processing_status == "complete"
    assert asset.variant_status == "pending", "variants are another job's business"
    for key, size in (("150", 150), ("300", 300), ("600", 600)):
        entry = asset.renditions[key]
        image = opened(entry)
        assert image.format == "JPEG"
        assert image.size == (entry["w"], entry["h"]) == (size, size)


def test_it_keeps_the_150_px_rendition_under_8_kb():
    asset = stored_asset(encoded(photo_like((1024, 768)), "PNG"), "png")

    render_image(asset)

    assert default_storage.size(asset.renditions["150"]["name"]) <= 8 * 1024


def test_it_names_renditions_by_their_content():
    data = encoded(photo_like((800, 600)), "PNG")
    first, second = stored_asset(data, "png"), stored_asset(data, "png")

    render_image(first)
    render_image(second)

    assert first.renditions == second.renditions
    for entry in first.renditions.values():
        with default_storage.open(entry["name"]) as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert entry["name"] == rendition_name(OWNER_ID, first.sha256, digest, "jpg")
    # Stored once: the second run found every file in place and wrote no copies.
    assert len(stored_renditions()) == 3



def test_it_applies_the_exif_orientation():
    # Stored 800x400, left half red; orientation 6 means "rotate 90 degrees clockwise to display".
    image = Image.new("RGB", (800, 400), "blue")
    image.paste("red", (0, 0, 400, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    asset = stored_asset(encoded(image, "JPEG", exif=exif), "jpg")

    render_image(asset)

    assert (asset.width, asset.height) == (400, 800)
    big = opened(asset.renditions["600"])
    assert big.size == (300, 600)
    top, bottom = big.getpixel((150, 100)), big.getpixel((150, 500))
    assert top[0] > 200 and top[2] < 60, f"the red half should be on top, got {top}"
    assert bottom[2] > 200 and bottom[0] < 60, f"the blue half should be at the bottom, got {bottom}"


def test_it_records_the_full_size_of_a_big_jpeg_decoded_in_draft_mode():
    asset = stored_asset(encoded(photo_like((3000, 2000)), "JPEG", quality=85), "jpg")

    render_image(asset)

    assert (asset.width, asset.height) == (3000, 2000)
    assert (asset.renditions["600"]["w"], asset.renditions["600"]["h"]) == (600, 400)


def test_it_flattens_transparency_onto_white():
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 100, 300, 300))
    asset = stored_asset(encoded(image, "PNG"), "png")

    render_image(asset)

    thumb = opened(asset.renditions["300"])
    assert thumb.mode == "RGB"
    assert min(thumb.getpixel((5, 5))) > 245, "transparent pixels become white, not black"
    red = thumb.getpixel((150, 150))
    assert red[0] > 200 and red[1] < 60


def test_it_converts_a_cmyk_jpeg():
    image = Image.new("CMYK", (700, 500), (0, 255, 255, 0))  # pure red in ink
    asset = stored_asset(encoded(image, "JPEG"), "jpg")

    render_image(asset)

    thumb = opened(asset.renditions["300"])
    assert thumb.mode == "RGB"
    assert thumb.size[0] == 300 and abs(thumb.size[1] - 214) <= 1  # 214.3, rounded either way
    r, g, b = thumb.getpixel((150, 100))
    assert r > 200 and g < 60 and b < 60


def test_it_scales_16_bit_greys_instead_of_clipping_them():
    asset = stored_asset(encoded(Image.new("I;16", (640, 480), 32768), "PNG"), "png")

    render_image(asset)

    grey = opened(asset.renditions["150"]).getpixel((50, 50))
    assert all(110 < c < 145 for c in grey), f"half of 16-bit white is mid grey, got {grey}"


def test_it_flattens_a_palette_image_with_a_transparent_colour():
    image = Image.new("P", (300, 300), 0)
    image.putpalette([0, 0, 0] + [0, 0, 255] * 255)
    image.paste(1, (0, 150, 300, 300))
    asset = stored_asset(encoded(image, "PNG", transparency=0), "png")

    render_image(asset)

    thumb = opened(asset.renditions["300"])
    assert min(thumb.getpixel((150, 20))) > 245
    assert thumb.getpixel((150, 280))[2] > 200


def test_it_never_upscales_a_small_image():
    asset = stored_asset(encoded(photo_like((120, 90)), "PNG"), "png")

    render_image(asset)

    assert {(e["w"], e["h"]) for e in asset.renditions.values()} == {(120, 90)}
    # 300 and 600 are the same bytes, so they share one content-addressed file.
    assert asset.renditions["300"]["name"] == asset.renditions["600"]["name"]


def test_it_uses_a_decoded_image_without_reading_the_original():
    image = photo_like((900, 600))
    asset = Asset(sha256="0" * 64)  # no original stored at all

    render_image(asset, image)

    assert (asset.width, asset.height) == (900, 600)
    assert opened(asset.renditions["600"]).size == (600, 400)
    assert image.size == (900, 600), "the caller's image is left alone"
