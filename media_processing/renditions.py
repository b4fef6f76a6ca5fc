"""Make an asset's renditions from a single decode of its original.

The budget is 60 ms for a 1024x1024 PNG, so the original is decoded once (at a
reduced scale when it is a big JPEG), and each smaller size is resampled from
the previous one instead of from the original.

Rendition files are named by the SHA-256 of their bytes: identical renditions
are stored once, and a name never points at different content, so they can be
served with an immutable cache lifetime.
"""

import hashlib
import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps
from pilkit.processors import ProcessorPipeline

from .specs import RENDITION_SPECS

EXIF_ORIENTATION = 0x0112
# Orientations 5..8 rotate by 90 degrees: the displayed width is the stored height.
SWAPS_AXES = {5, 6, 7, 8}
# JPEGs decode at 1/2, 1/4 or 1/8 scale almost for free. draft() never goes
# below the size asked for, and 1200 px is twice what the 600 px rendition
# needs, so its sharpness is unaffected.
DRAFT_SIZE = (1200, 1200)
BACKGROUND = (255, 255, 255)

UPDATED_FIELDS = ["renditions", "width", "height", "thumbnail_status", "processing_status"]


def render_image(asset, image=None):
    """Write the 600/300/150 px renditions of `asset` and record them on it.

    `image` is an already decoded PIL image of the original (a caller that has
    just created or decoded one passes it to save a decode); without it the
    original is read through the storage API. The asset is not saved: the
    names of the fields that changed are returned, for save(update_fields=...)
    or bulk_update().
    """
    if image is None:
        image, size = decode_original(asset.original)
    else:
        size = oriented_size(image)
    image = to_rgb(orient(image))
    asset.renditions = write_renditions(image)
    asset.width, asset.height = size
    asset.thumbnail_status = asset.processing_status = "complete"
    return list(UPDATED_FIELDS)


def decode_original(field_file):
    """(image, full oriented size) of a stored original, decoded once.

    The size is read before draft() shrinks a big JPEG, so the asset still
    records the original's real dimensions.
    """
    with field_file.open("rb") as f:
        image = Image.open(f)
        size = oriented_size(image)
        if image.format == "JPEG" and max(image.size) > DRAFT_SIZE[0]:
            image.draft("RGB", DRAFT_SIZE)
        # load() inside the with: Pillow reads lazily, and the file closes after.
        image.load()
    return image, size


def oriented_size(image):
    """(width, height) as the image is displayed, after its EXIF orientation."""
    w, h = image.size
    if _orientation(image) in SWAPS_AXES:
        return h, w
    return w, h


def orient(image):
    if _orientation(image) in (None, 1):
        # exif_transpose() would copy the whole image to change nothing.
        return image
    return ImageOps.exif_transpose(image)


def _orientation(image):
    return image.getexif().get(EXIF_ORIENTATION)


def to_rgb(image):
    """An RGB version of any mode Pillow decodes, as a viewer would show it."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        # 16- and 32-bit greys: a plain convert() clips everything above 255
        # to white, so scale the 16-bit range down to 8 bits first.
        image = image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode in ("PA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa"):
        return _flatten(image)
    return image.convert("RGB")


def _flatten(image):
    # JPEG has no alpha: composite onto white, which is what a transparent
    # PNG looks like on our pages, instead of dropping alpha (which shows
    # whatever colour the transparent pixels happen to hold, often black).
    rgba = image.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, BACKGROUND)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def write_renditions(image):
    """Encode and store each spec's rendition; the Asset.renditions dict."""
    renditions = {}
    for key, spec in RENDITION_SPECS:
        image = ProcessorPipeline(spec.processors).process(image)
        renditions[key] = {"name": store(encode(image, spec), "jpg"), "w": image.width, "h": image.height}
    return renditions


def encode(image, spec):
    # Pillow directly, not pilkit's img_to_fobj(): that points file descriptor 2
    # at /dev/null around every save, and two threads doing it at once can
    # leave the process's stderr (and its logs) in /dev/null for good.
    buf = io.BytesIO()
    image.save(buf, spec.format, **spec.options)
    return buf.getvalue()


def store(data, ext):
    """Save bytes under their content address, once; return the storage name."""
    digest = hashlib.sha256(data).hexdigest()
    # 128 bits of the hash are plenty to tell files apart, and every list row
    # repeats this name in its URL, so it is kept short: r/ab/<30 hex>.jpg.
    name = f"r/{digest[:2]}/{digest[2:32]}.{ext}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:
            # Another worker stored the same bytes between exists() and save(),
            # and the storage picked a new name for ours: keep theirs.
            default_storage.delete(saved)
    return name
