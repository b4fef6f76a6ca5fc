"""Make an asset's renditions from a single decode of its original.

The budget is 60 ms for a 1024x1024 PNG, so the original is decoded once (at a
reduced scale when it is a big JPEG), and each smaller size is resampled from
the previous one instead of from the original.

Stored originals are decoded by libvips (pyvips), which shrinks while it loads:
a JPEG through libjpeg's DCT scaling, a PNG or WebP streamed a band of lines at a
time, so a 100-megapixel upload never exists in memory at full size (a worker
stays under 400 MB; Pillow decodes the whole PNG first). It is also faster at
equal output, and it tells a truncated JPEG from a whole one, which libjpeg
through Pillow doesn't (it paints the missing part grey and says nothing).
bench/processing.py --compare measures both; docs/benchmarks.md has the figures.
Pillow still reads the headers (size, EXIF) and renders images already in
memory (video frames, generated results).

Rendition files live in their owner's folder and are named by their
original's hash and the SHA-256 of their own bytes (library/media.py): a name
never points at different content, so they can be served with an immutable
cache lifetime. Files are stored through library.media.store_all(), which first
withdraws their names from the media collector.
"""

import hashlib
import io
import os
from datetime import UTC, datetime

import av
import pyvips
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError
from pilkit.processors import ProcessorPipeline

from library.media import rendition_name, store_all

from . import thumbhash
from .errors import BadOriginal, MissingOriginal, StorageError
from .specs import RENDITION_SPECS, VARIANT_SPECS, fit_box, jpeg_options

EXIF_ORIENTATION = 0x0112
# Orientations 5..8 rotate by 90 degrees: the displayed width is the stored height.
SWAPS_AXES = {5, 6, 7, 8}
# JPEGs decode at 1/2, 1/4 or 1/8 scale almost for free. draft() never goes
# below the size asked for, and 1200 px is twice what the 600 px rendition
# needs, so its sharpness is unaffected.
DRAFT_SIZE = (1200, 1200)
# The display variants fit within 3840x2160 either way round. A draft that keeps
# the short side >= 2160 always suffices: when the long side is the limit
# (wider than 16:9) it is then >= 2160 * 16/9 = 3840 already.
VARIANT_DRAFT_SIZE = (2160, 2160)
BACKGROUND = (255, 255, 255)

UPDATED_FIELDS = ["renditions", "width", "height", "thumbhash", "thumbnail_status", "processing_status"]

# libvips caches recent operations with the images they hold; a worker visits each
# original once, so the cache would only hold memory.
pyvips.cache_set_max(0)
# One libvips thread per process: workers already run a process per core, and each
# extra thread holds its own buffers (a 100 MP variants job peaked 30-90 MB higher
# with two). VIPS_CONCURRENCY, when set, says otherwise.
if "VIPS_CONCURRENCY" not in os.environ:
    pyvips.concurrency_set(1)


def render_image(asset, image=None, size=None):
    """Write the 600/300/150 px renditions and the thumbhash of `asset` and record them on it.

    `image` is an already decoded PIL image of the original (a caller that has
    just created or decoded one passes it to save a decode), and `size` its
    full oriented size when it was decoded in draft mode; without an image the
    original is read through the storage API. The asset is not saved: the
    names of the fields that changed are returned, for save(update_fields=...)
    or bulk_update().
    """
    if image is None:
        render_original(asset)
        return list(UPDATED_FIELDS)
    store_all(make_renditions(asset, image, size))
    return list(UPDATED_FIELDS)


def make_renditions(asset, image, size=None):
    """render_image() of an image already in memory, without storing: the asset's
    fields are set, and the files to store are returned ({name: ContentFile}) for
    the caller to store_all() (seed_demo makes them in threads and stores them
    from its main thread)."""
    if size is None:
        size = oriented_size(image)
    image = to_rgb(orient(image))
    asset.renditions, smallest, files = encode_renditions(image, asset)
    asset.thumbhash = thumbhash.encode(smallest)
    asset.width, asset.height = size
    asset.thumbnail_status = asset.processing_status = "complete"
    return files


def render_original(asset):
    """Renditions 600/300/150 and the thumbhash of `asset` from its stored original, through
    libvips; records them and the original's size on the asset (unsaved). Returns the
    original's (EXIF dict, taken_at)."""
    size, exif, taken_at, image_format = read_header(asset.original)
    image = shrink_original(asset.original, RENDITION_SPECS[0][1], size, image_format)
    asset.renditions, smallest = write_vips_renditions(image, RENDITION_SPECS, asset)
    asset.thumbhash = thumbhash.encode(to_pil(smallest))
    asset.width, asset.height = size
    asset.thumbnail_status = asset.processing_status = "complete"
    return exif, taken_at


def render_original_variants(asset):
    """The display variants of an asset's stored original: Asset.renditions entries "2160" and "1080"."""
    size, _, _, image_format = read_header(asset.original)
    image = shrink_original(asset.original, VARIANT_SPECS[0][1], size, image_format)
    return write_vips_renditions(image, VARIANT_SPECS, asset)[0]


def read_header(field_file):
    """(full oriented size, EXIF dict, taken_at, format) of a stored original, from its
    headers only: Pillow parses them without decoding a pixel."""
    with open_original(field_file) as f:
        try:
            with Image.open(f) as image:
                raw = _header_exif(image)
                width, height = image.size
                image_format = image.format
        except Image.DecompressionBombError:
            raise BadOriginal("The original has too many pixels to decode safely.") from None
        except UnidentifiedImageError:
            message = "The original is not an image this server can read (corrupt or unsupported format)."
            raise BadOriginal(message) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadOriginal(f"The original image is damaged and cannot be decoded: {exc}.") from None
    size = (height, width) if raw.get(EXIF_ORIENTATION) in SWAPS_AXES else (width, height)
    exif, taken_at = exif_fields(raw)
    return size, exif, taken_at, image_format


def _header_exif(image):
    # A PNG's getexif() decodes every pixel to look for an eXIf chunk after them;
    # the one before them (where writers put it) was read by open().
    if image.format != "PNG":
        try:
            return image.getexif()
        except Exception:  # noqa: BLE001 - a malformed EXIF block is simply absent
            return Image.Exif()
    raw = Image.Exif()
    if "exif" in image.info:
        raw.load(image.info["exif"])
    return raw


def shrink_original(field_file, spec, size, image_format=None):
    """The stored original decoded straight to the size `spec` fits it into: upright,
    8-bit sRGB, flattened onto white. A truncated or damaged file is a BadOriginal.

    A JPEG cut short and closed with an end marker (a broken transfer, a tool that
    "repairs" files) decodes with its missing lines painted grey and nothing but a
    warning. So JPEGs are decoded failing on any warning first: a truncation is
    refused, and a file whose warning is harmless (junk between segments, which
    Pillow and browsers show fine) is decoded again, tolerantly.
    """
    box = fit_box(spec, *size)
    strict = image_format in ("JPEG", "MPO")
    try:
        return _thumbnail(field_file, box, "warning" if strict else "truncated")
    except pyvips.Error as exc:
        reason = _vips_reason(exc)
        if "premature end" in reason.lower():
            raise BadOriginal("The original image is truncated: its data ends before the picture does.") from None
        if not strict:
            raise BadOriginal(f"The original image is damaged and cannot be decoded: {reason}.") from None
    try:
        return _thumbnail(field_file, box, "truncated")
    except pyvips.Error as exc:
        raise BadOriginal(f"The original image is damaged and cannot be decoded: {_vips_reason(exc)}.") from None


def _thumbnail(field_file, box, fail_on):
    with open_original(field_file) as f:
        source = pyvips.SourceCustom()
        source.on_read(f.read)
        source.on_seek(lambda offset, whence: f.seek(offset, whence))
        # fail_on goes to the loader through option_string: thumbnail's own keyword is not passed on.
        # No colour-profile conversion (output_profile): it cost 10-20x the whole job here, and
        # the Pillow path never converted either.
        image = pyvips.Image.thumbnail_source(
            source, box[0], height=box[1], size="down", option_string=f"fail_on={fail_on}"
        )
        # Decoded here, while the file is open (libvips is lazy until then).
        return _srgb8(image).copy_memory()


def _srgb8(image):
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")  # greys, 16 bits, CMYK left over
    if image.hasalpha():
        image = image.flatten(background=list(BACKGROUND))
    return image.extract_band(0, n=3) if image.bands > 3 else image


def _vips_reason(exc):
    # libvips' detail is a few lines naming the loader; the first one says what went wrong
    # (later ones are often consequences, such as "out of order read").
    lines = [line.strip() for line in str(getattr(exc, "detail", "") or exc).splitlines() if line.strip()]
    return (lines[0] if lines else "unknown error").split(": ", 1)[-1].rstrip(".")


def write_vips_renditions(image, specs, asset):
    """Encode and store each spec's rendition of a libvips image, each made from the one
    before: (the Asset.renditions entries, the smallest image)."""
    renditions, files = {}, {}
    for key, spec in specs:
        box = fit_box(spec, image.width, image.height)
        if image.width > box[0] or image.height > box[1]:
            image = image.thumbnail_image(box[0], height=box[1], size="down")
        data = image.jpegsave_buffer(keep="none", **jpeg_options(spec))
        name = _name(asset, data)
        renditions[key] = {"name": name, "w": image.width, "h": image.height}
        files[name] = ContentFile(data)
    store_all(files)
    return renditions, image


def _name(asset, data):
    return rendition_name(asset.owner_id, asset.sha256, hashlib.sha256(data).hexdigest(), "jpg")


def to_pil(image):
    """A small libvips sRGB image as a Pillow image."""
    return Image.frombytes("RGB", (image.width, image.height), image.write_to_memory())


def decode_original(field_file, draft=DRAFT_SIZE):
    """(image, full oriented size) of a stored original, decoded once.

    The size is read before draft() shrinks a big JPEG, so the asset still
    records the original's real dimensions. Failures come out as the readable
    errors of errors.py: the storage's fault, or the file's.
    """
    f = open_original(field_file)
    with f:
        try:
            image = Image.open(f)
            size = oriented_size(image)
            if draft and image.format == "JPEG" and max(image.size) > max(draft):
                image.draft("RGB", draft)
            # load() inside the with: Pillow reads lazily, and the file closes after.
            image.load()
        except Image.DecompressionBombError:
            raise BadOriginal("The original has too many pixels to decode safely.") from None
        except UnidentifiedImageError:
            message = "The original is not an image this server can read (corrupt or unsupported format)."
            raise BadOriginal(message) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # Pillow's messages here are short and to the point ("image file is truncated").
            raise BadOriginal(f"The original image is damaged and cannot be decoded: {exc}.") from None
    return image, size


def open_original(field_file):
    try:
        return field_file.open("rb")
    except FileNotFoundError:
        raise MissingOriginal(f"The original file ({field_file.name}) is missing from storage.") from None
    except OSError as exc:
        raise StorageError(f"The storage could not open the original ({field_file.name}): {exc}.") from None


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


def encode_renditions(image, asset, specs=RENDITION_SPECS):
    """Each spec's rendition of `asset` from a PIL image: (the Asset.renditions entries,
    the smallest image, the files to store)."""
    renditions, files = {}, {}
    for key, spec in specs:
        image = ProcessorPipeline(spec.processors).process(image)
        data = encode(image, spec)
        name = _name(asset, data)
        renditions[key] = {"name": name, "w": image.width, "h": image.height}
        files[name] = ContentFile(data)
    return renditions, image, files


def write_variants(image, asset):
    """Store the display variants of an oriented RGB image: Asset.renditions entries "2160" and "1080"."""
    renditions, _, files = encode_renditions(image, asset, VARIANT_SPECS)
    store_all(files)
    return renditions


def encode(image, spec):
    # Pillow directly, not pilkit's img_to_fobj(): that points file descriptor 2
    # at /dev/null around every save, and two threads doing it at once can
    # leave the process's stderr (and its logs) in /dev/null for good.
    buf = io.BytesIO()
    image.save(buf, spec.format, **spec.options)
    return buf.getvalue()


# EXIF tags kept on Asset.exif, by name. A whitelist: maker notes and thumbnails
# are large binary blobs, and GPS would publish where the owner lives.
IFD0_TAGS = {0x010F: "make", 0x0110: "model", 0x0112: "orientation", 0x0131: "software"}
EXIF_IFD = 0x8769
EXIF_TAGS = {
    0x9003: "datetime_original", 0x9004: "datetime_digitized", 0x9011: "offset_time_original",
    0xA434: "lens_model", 0x829A: "exposure_time", 0x829D: "f_number", 0x8827: "iso", 0x920A: "focal_length",
}  # fmt: skip
EXIF_DATETIME = "%Y:%m:%d %H:%M:%S"


def read_exif(image):
    """(Asset.exif dict, taken_at) from a decoded image's EXIF; ({}, None) without any.

    Values are made JSON-safe (rationals to floats, no NUL bytes, which
    PostgreSQL's jsonb refuses) and a broken EXIF block never fails a job.
    """
    try:
        raw = image.getexif()
    except Exception:  # noqa: BLE001 - EXIF is a bonus; a malformed block is simply absent
        return {}, None
    return exif_fields(raw)


def exif_fields(raw):
    """(Asset.exif dict, taken_at) from a parsed EXIF block (PIL.Image.Exif)."""
    try:
        tags = [(IFD0_TAGS, raw), (EXIF_TAGS, raw.get_ifd(EXIF_IFD))]
        exif = {name: _json_value(ifd[tag]) for names, ifd in tags for tag, name in names.items() if tag in ifd}
    except Exception:  # noqa: BLE001 - EXIF is a bonus; a malformed block is simply absent
        return {}, None
    exif = {k: v for k, v in exif.items() if v is not None}
    return exif, _taken_at(exif)


def _json_value(value):
    if isinstance(value, tuple):
        value = value[0] if value else None  # e.g. ISO as (100,)
    if isinstance(value, bytes):
        return None
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:100] or None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # IFDRational and friends
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(number, 6) if number == number and abs(number) != float("inf") else None


def _taken_at(exif):
    """When the photo was taken. Cameras write local time; without an offset
    tag the zone is unknown, and UTC is the least surprising guess."""
    text = exif.get("datetime_original") or exif.get("datetime_digitized")
    if not text:
        return None
    try:
        taken = datetime.strptime(text[:19], EXIF_DATETIME)
    except ValueError:
        return None  # "0000:00:00 00:00:00" and other placeholders
    offset = exif.get("offset_time_original")
    if offset:
        try:
            return datetime.strptime(f"{text[:19]} {offset}", f"{EXIF_DATETIME} %z")
        except ValueError:
            pass
    return taken.replace(tzinfo=UTC)


def decode_video(field_file):
    """(first frame as an upright PIL image, duration in seconds or None) of a stored video."""
    f = open_original(field_file)
    with f:
        try:
            with av.open(f) as container:
                stream = container.streams.video[0]
                frame = next(container.decode(stream))
                image = frame.to_image()
                duration = _duration(container, stream)
                rotation = frame.rotation
        except IndexError:
            raise BadOriginal("The video has no video stream.") from None
        except StopIteration:
            raise BadOriginal("The video has no frame that can be decoded.") from None
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
            raise BadOriginal(f"The video is damaged or in a format this server cannot read: {exc}.") from None
    if rotation:
        # Phones store portrait video sideways with a display matrix; its angle
        # is counter-clockwise, like Image.rotate().
        image = image.rotate(rotation, expand=True)
    return image, duration


def _duration(container, stream):
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None
