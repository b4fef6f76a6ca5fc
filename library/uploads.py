"""Uploads: streamed to a temporary file while hashed, then identified by decoding.

Nothing here trusts a file's name or the Content-Type the client sent. A file is
what Pillow or FFmpeg make of its bytes, and only a few formats are accepted:

- images: JPEG, PNG, WebP, GIF, and AVIF when this Pillow can read it (HEIC it
  can't, so HEIC is refused with a message saying so);
- videos: MP4, MOV (the ISO media family) and WebM (VP8, VP9 or AV1 in Matroska).

Rejections carry an HTTP status: 413 over a size, pixel or frame cap, 415 for
anything that is not an accepted format (SVG included: it can carry scripts),
422 for an accepted format whose data is truncated or corrupt.

Checks are cheap on purpose (an upload must answer in milliseconds): headers
are parsed, JPEGs must end their picture data with an end-of-image marker,
PNGs have every chunk's CRC checked, GIF frames are counted, videos have their
first frame decoded. No image is decoded here: a file that passes and still
fails the full decode in the worker becomes a failed asset with the decoder's
message.
"""

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import av
from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.middleware.csrf import CsrfViewMiddleware
from PIL import Image, UnidentifiedImageError, features

from i2v.lib.text import one_line
from media_processing.renditions import EXIF_ORIENTATION, SWAPS_AXES, oriented_size

# Pillow format -> (mime, extension of the stored original).
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    # Cameras' multi-picture JPEGs (a second image for depth or a preview);
    # they are JPEGs to every browser, which shows the first picture.
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}
if features.check("avif"):
    IMAGE_FORMATS["AVIF"] = ("image/avif", "avif")
# The decoders tried, and only these: Pillow's other plugins (dozens of rarely
# used parsers) never see an upload. The JPEG plugin is the one that opens MPOs.
DECODERS = [name for name in IMAGE_FORMATS if name != "MPO"]

WEBM_CODECS = {"vp8", "vp9", "av1"}
# ISO media files start with a box; these are the ones a movie may start with.
ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"}
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
# First bytes of the accepted image formats, to tell a damaged one (422) from a stranger (415).
IMAGE_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"))
# Enough of a video to find its first picture; a hostile file can't keep the decoder busy longer.
MAX_PROBE_PACKETS = 300

ACCEPTED = "JPEG, PNG, WebP, GIF{}, MP4, WebM or MOV".format(", AVIF" if "AVIF" in IMAGE_FORMATS else "")


class UploadRejected(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_json(self):
        return {"code": self.code, "message": self.message, "field": "files"}


class Ingested(NamedTuple):
    """What came of one file of a request (Asset.objects.ingest_each()): the asset, new or already there, or why
    it was refused."""

    name: str  # as shown back to the person (display_name())
    asset: object  # the Asset, or None where refused
    created: bool
    refused: UploadRejected | None


@dataclass(frozen=True)
class Probe:
    kind: str  # "image" or "video"
    mime: str
    ext: str
    width: int
    height: int
    duration: float | None = None


class HashingUploadHandler(FileUploadHandler):
    """Stream every uploaded file to a temporary file, hashing it on the way.

    Never holds a whole file in memory, whatever its size. Bytes past the
    largest cap are counted but neither written nor hashed, and what was
    written is dropped, so an oversized upload costs no disk; the view then
    answers 413 from `too_large`.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.limit = max(settings.UPLOAD_MAX_BYTES.values())
        self.file = TemporaryUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)
        self.hash = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        before, self.received = self.received, self.received + len(raw_data)
        if self.received <= self.limit:
            self.file.write(raw_data)
            self.hash.update(raw_data)
        elif before <= self.limit:
            self.file.seek(0)
            self.file.truncate()
        return None

    def file_complete(self, file_size):
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self.hash.hexdigest()
        self.file.too_large = file_size > self.limit
        return self.file

    def upload_interrupted(self):
        # A broken connection: the temporary file goes at once (closing deletes it).
        if hasattr(self, "file"):
            self.file.close()


def received(request):
    """The files a multipart `request` sends under `files`, each streamed to a temporary file while hashed
    (HashingUploadHandler), or None where its CSRF token fails. The token is checked once the files are
    read: the middleware's own check reads the body first, with Django's default handlers (which keep
    small files in memory and don't hash), so the views that take uploads are csrf_exempt and call this.
    A body that can't be read as multipart raises MultiPartParserError or SuspiciousOperation."""
    request.upload_handlers = [HashingUploadHandler(request)]
    files = request.FILES.getlist("files")
    if CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is not None:
        for upload in files:
            upload.close()
        return None
    return files


def check_streamed_size(upload):
    limit = max(settings.UPLOAD_MAX_BYTES.values())
    if getattr(upload, "too_large", False) or upload.size > limit:
        raise UploadRejected(413, "too_large", f"The file is larger than {_mb(limit)}, the upload limit.")


def sha256_of(upload):
    """The upload's SHA-256: from the handler, or in chunks for any other file object."""
    digest = getattr(upload, "sha256", None)
    if digest:
        return digest
    hasher = hashlib.sha256()
    for chunk in upload.chunks():
        hasher.update(chunk)
    upload.seek(0)
    return hasher.hexdigest()


def identify(upload):
    """A Probe of an accepted, decodable file within the caps, or UploadRejected."""
    if upload.size == 0:
        raise UploadRejected(422, "empty", "The file is empty.")
    upload.seek(0)
    head = upload.read(64)
    upload.seek(0)
    probe = _probe_image(upload) or _probe_video(upload, head)
    if probe is None:
        _refuse_unknown(head)
    _check_bytes(probe.kind, upload.size)
    return probe


def _check_bytes(kind, size):
    cap = settings.UPLOAD_MAX_BYTES[kind]
    if size > cap:
        raise UploadRejected(413, "too_large", f"The {kind} is {_mb(size)}; {kind}s may be at most {_mb(cap)}.")


def _probe_image(upload):
    try:
        image = Image.open(upload, formats=DECODERS)
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except Exception:  # noqa: BLE001 - any parser failure on an identified format is bad data
        raise UploadRejected(422, "corrupt", "The image is damaged and can't be decoded.") from None
    with image:
        name = image.format
        try:
            return _check_image(image, upload.size)
        except UploadRejected:
            raise
        except Exception:  # noqa: BLE001 - truncated data raises OSError, bad tables ValueError, ...
            raise UploadRejected(422, "corrupt", f"The {name} image is truncated or damaged and can't be decoded.") from None
        finally:
            upload.seek(0)


def _check_image(image, nbytes):
    _check_bytes("image", nbytes)  # before any decoding work on a file that can't be kept anyway
    width, height = image.size
    if width * height > settings.UPLOAD_MAX_PIXELS:
        raise _too_many_pixels(width, height)
    frames = getattr(image, "n_frames", 1)
    if frames > settings.UPLOAD_MAX_FRAMES:
        raise UploadRejected(
            413, "too_many_frames", f"The animation has {frames} frames; at most {settings.UPLOAD_MAX_FRAMES} are accepted."
        )
    mime, ext = IMAGE_FORMATS[image.format]
    size = _png_oriented_size(image) if image.format == "PNG" else oriented_size(image)
    if image.format in ("JPEG", "MPO"):
        _check_jpeg_end(image)
    elif image.format == "PNG":
        image.verify()  # every chunk's CRC, through to the end: catches truncation without inflating
    return Probe("image", mime, ext, *size)


def _check_jpeg_end(image):
    """Refuse a JPEG cut short: one with no end-of-image marker after its picture data.

    Compressed picture data can't contain FF D9 (a stuffed FF is followed by
    00 or a restart marker), so finding it after the first scan starts means
    the data ends where it should; an EXIF thumbnail's own marker comes before
    the scan and doesn't count. Scanning the bytes costs a millisecond per few
    MB; decoding them, even at 1/8 scale, ~20 ms per MB, which an upload can't
    afford. Damage inside the data is found by the worker's decode, which
    marks the asset failed with the decoder's message.
    """
    fp = image.fp
    fp.seek(_jpeg_scan_start(fp, image.format))
    tail = b""
    while chunk := fp.read(1 << 20):
        if b"\xff\xd9" in tail + chunk:
            return
        tail = chunk[-1:]
    raise UploadRejected(422, "corrupt", f"The {image.format} image is truncated: its data ends before the picture does.")


def _jpeg_scan_start(fp, name):
    """Offset of the first scan's data: the segments before it are walked by their lengths.

    As leniently as Pillow's own parser, so what Pillow opens is never refused here:
    bytes between segments that are not a marker are skipped (junk after a segment
    whose length was wrong, e.g. a broken Photoshop block), and a length under 2
    (a truncated APP14) skips nothing.
    """
    fp.seek(2)  # past SOI
    while True:
        byte = fp.read(1)
        if not byte:
            raise UploadRejected(422, "corrupt", f"The {name} image is damaged: it has no picture data.")
        if byte != b"\xff":
            continue  # junk between segments
        code = fp.read(1)
        while code == b"\xff":
            code = fp.read(1)  # fill bytes before a marker
        if not code:
            raise UploadRejected(422, "corrupt", f"The {name} image is damaged: it has no picture data.")
        if code[0] in (0x00, 0x01) or 0xD0 <= code[0] <= 0xD7:
            continue  # a stuffed byte, or a marker without a length
        length = max(int.from_bytes(fp.read(2), "big"), 2)
        if code[0] == 0xDA:  # start of scan: its header, then the data
            return fp.tell() + length - 2
        fp.seek(length - 2, 1)


def _png_oriented_size(image):
    # A PNG's getexif() decodes every pixel to look for an eXIf chunk after
    # them; the one before them (where writers put it) was read by open().
    exif = Image.Exif()
    if "exif" in image.info:
        exif.load(image.info["exif"])
    width, height = image.size
    return (height, width) if exif.get(EXIF_ORIENTATION) in SWAPS_AXES else (width, height)


def _probe_video(upload, head):
    # The demuxer is chosen from the file's first bytes, never left to FFmpeg's
    # guessing: probing every format would let a text file be read as, say, an
    # HLS playlist that makes the server fetch URLs.
    if head[4:8] in ISO_FIRST_BOXES:
        brand = head[8:12] if head[4:8] == b"ftyp" else b""
        if brand in HEIF_BRANDS:
            raise UploadRejected(415, "heic", "HEIC/HEIF photos can't be read here; export them as JPEG.")
        if brand in AVIF_BRANDS:
            if "AVIF" in IMAGE_FORMATS:
                raise UploadRejected(422, "corrupt", "The AVIF image is truncated or damaged and can't be decoded.")
            raise UploadRejected(415, "avif", "AVIF images can't be read here; export them as JPEG or PNG.")
        demuxer = "mov"
    elif head.startswith(EBML_MAGIC):
        demuxer = "matroska"
    else:
        return None
    # FFmpeg reads a file on disk by path, natively; any other file object through Python.
    source = upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload
    try:
        return _read_video(source, demuxer)
    except UploadRejected:
        raise
    except Exception:  # noqa: BLE001 - av.FFmpegError and friends: the container or stream is bad
        raise UploadRejected(422, "corrupt", "The video is truncated or damaged and can't be decoded.") from None
    finally:
        upload.seek(0)


def _read_video(source, demuxer):
    # enable_drefs stays off (FFmpeg's default, said here on purpose): a MOV
    # may point at other files by path, and those must never be opened.
    options = {"enable_drefs": "0"} if demuxer == "mov" else {}
    with av.open(source, format=demuxer, options=options) as container:
        if not container.streams.video:
            raise UploadRejected(415, "no_video", "The file has no video stream (audio alone is not accepted).")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if demuxer == "matroska" and codec not in WEBM_CODECS:
            raise UploadRejected(415, "unsupported_format", f"Matroska with {codec} is not accepted; use MP4 or WebM (VP8, VP9, AV1).")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > settings.UPLOAD_MAX_PIXELS:
            raise _too_many_pixels(width, height)
        frame = _first_frame(container, stream)
        if abs(frame.rotation or 0) % 180 == 90:
            width, height = height, width  # a phone video shot upright is stored on its side
        brand = (container.metadata.get("major_brand") or "").strip()
        if demuxer == "matroska":
            mime, ext = "video/webm", "webm"
        elif brand == "qt" or not brand:
            mime, ext = "video/quicktime", "mov"
        else:
            mime, ext = "video/mp4", "mp4"
        duration = container.duration / av.time_base if container.duration else None
        return Probe("video", mime, ext, width, height, duration)


def _first_frame(container, stream):
    for count, packet in enumerate(container.demux(stream)):
        if count >= MAX_PROBE_PACKETS:
            break
        for frame in packet.decode():
            return frame
    raise UploadRejected(422, "corrupt", "The video has no picture that can be decoded.")


def _refuse_unknown(head):
    for magic, name in IMAGE_MAGIC:
        if head.startswith(magic) and (name != "WebP" or head[8:12] == b"WEBP"):
            # Starts like an accepted format, but its decoder could make nothing of it.
            raise UploadRejected(422, "corrupt", f"The {name} image is damaged and can't be decoded.")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text:
        raise UploadRejected(415, "svg", "SVG files are not accepted (they can carry scripts); export a PNG instead.")
    raise UploadRejected(415, "unsupported_format", f"This is not an image or video format we accept ({ACCEPTED}).")


def _too_many_pixels(width=None, height=None):
    limit = f"{settings.UPLOAD_MAX_PIXELS / 1e6:g} megapixels"
    if width is None:
        return UploadRejected(413, "too_many_pixels", f"The image has far more pixels than the limit of {limit}.")
    return UploadRejected(
        413, "too_many_pixels", f"The picture is {width}×{height} ({width * height / 1e6:.0f} megapixels); the limit is {limit}."
    )


def _mb(n):
    return f"{n / (1024 * 1024):.3g} MB"


def display_name(name, limit=200):
    """The client's file name made safe to show: no folders, no control or bidi
    characters, no surrounding dots or spaces, at most `limit` characters with
    the extension kept. Unicode stays. It is only ever shown: stored files are
    named by their hash."""
    name = one_line((name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: limit - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:limit].rstrip(" .")
    return name or "upload"
