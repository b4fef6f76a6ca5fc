"""Files for upload tests, made on the spot with Pillow, PyAV and plain bytes:
the ordinary ones and the hostile set (truncations, bombs, polyglots, SVG...)."""

import functools
import io
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import av
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

EXIF_ORIENTATION = 0x0112


def encoded(image, fmt, **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg(size=(64, 48), colour=(200, 40, 40), mode="RGB", **options):
    return encoded(Image.new(mode, size, colour if mode == "RGB" else None), "JPEG", **options)


def png(size=(64, 48), colour=(40, 200, 40), mode="RGB"):
    return encoded(Image.new(mode, size, colour if mode == "RGB" else None), "PNG")


def noisy_jpeg(size=(400, 300), **options):
    # Noise does not compress either: the file's second half is picture data.
    return encoded(Image.effect_noise(size, 60).convert("RGB"), "JPEG", **options)


def jpeg_with_thumbnail(size=(400, 300)):
    """A JPEG whose APP1 segment carries another JPEG, as cameras' EXIF thumbnails do:
    an end-of-image marker before the picture data even starts."""
    return noisy_jpeg(size, exif=b"Exif\x00\x00" + jpeg((16, 12)))


def _after_app0(data, extra):
    """`data` (a JPEG) with `extra` bytes put right after its APP0 segment."""
    end = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:end] + extra + data[end:]


# Damaged headers that Pillow (and libjpeg, and browsers) read past: these must be accepted.
def jpeg_with_junk_in_its_header(size=(400, 300)):
    return _after_app0(noisy_jpeg(size), b"\x00\x13 junk between segments")


def jpeg_with_a_broken_photoshop_segment(size=(400, 300)):
    # APP13 whose length covers less than its 8BIM resource: the rest reads as junk.
    block = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00\x00\x00\x00\x10" + b"x" * 16
    return _after_app0(noisy_jpeg(size), b"\xff\xed" + struct.pack(">H", 10) + block)


def jpeg_with_a_truncated_app14(size=(400, 300)):
    # An Adobe APP14 whose length field is 0: nothing of it is where a length says.
    return _after_app0(noisy_jpeg(size), b"\xff\xee\x00\x00Adobe\x00\x64")


def jpeg_cut_and_closed(size=(1600, 1200), keep=0.4):
    """The first 40 % of a JPEG, then an end-of-image marker: it looks whole to a header
    scan, and libjpeg paints the missing lower part grey with only a warning."""
    data = noisy_jpeg(size)
    return data[: int(len(data) * keep)] + b"\xff\xd9"


def noisy_png(size=(200, 200)):
    # Noise does not compress, so half of the file is half of the picture's data.
    return encoded(Image.effect_noise(size, 60).convert("RGB"), "PNG")


def exif_rotated_jpeg(size=(60, 20), orientation=6):
    """Stored 60x20, displayed 20x60: orientation 6 means "rotate 90° clockwise to view"."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encoded(Image.new("RGB", size, (10, 10, 200)), "JPEG", exif=exif)


def png_16bit(size=(40, 30)):
    return encoded(Image.new("I;16", size, 40000), "PNG")


def cmyk_jpeg(size=(40, 30)):
    return encoded(Image.new("CMYK", size, (0, 50, 100, 0)), "JPEG")


def webp(size=(32, 32)):
    return encoded(Image.new("RGB", size, (1, 2, 3)), "WEBP")


def avif(size=(32, 32)):
    return encoded(Image.new("RGB", size, (1, 2, 3)), "AVIF")


def animated_gif(frames):
    """A GIF of `frames` 8x8 frames that all differ (identical ones would be merged)."""
    images = []
    for i in range(frames):
        image = Image.new("P", (8, 8), 0)
        image.putpalette([0, 0, 0, 255, 255, 255] * 128)
        image.putpixel((i % 8, (i // 8) % 8), 1 + i % 2)
        images.append(image)
    return encoded(images[0], "GIF", save_all=True, append_images=images[1:], duration=20, optimize=False)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunks(*chunks):
    """png() with `chunks` ((kind, body) each, as given, with a right CRC) before its picture data, where
    Pillow reads them without decoding it: text an image tool wrote, or a hostile one."""
    data = png()
    at = data.index(b"IDAT") - 4
    return data[:at] + b"".join(_chunk(kind, body) for kind, body in chunks) + data[at:]


def png_with_parameters(text):
    """A PNG with A1111's `parameters` text in it (tEXt for Latin-1, iTXt otherwise)."""
    from library import parameters

    return parameters.embed(png(), "image/png", text)


@functools.cache
def png_bomb(width=30000, height=30000):
    """A real, valid 1-bit PNG of width x height black pixels, ~110 KB on disk.

    Decoded at 8 bits per pixel it would take 900 MB of memory.
    """
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row * 1000) for _ in range(height // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def svg_with_script():
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>fetch('/api/pipelines').then(r => r.text()).then(alert)</script><rect width='10' height='10'/></svg>"
    )


def polyglot_jpeg():
    """A real JPEG with a ZIP archive and an HTML page appended: every JPEG
    decoder reads the picture and stops at its end marker."""
    zip_archive = b"PK\x03\x04" + b"\0" * 26 + b"PK\x05\x06" + b"\0" * 18
    html = b"<html><script>alert(document.cookie)</script></html>"
    return jpeg() + zip_archive + html


def video(fmt="mp4", codec="libx264", size=(64, 48), frames=10, rotate=None):
    """A short real video, encoded with PyAV."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"v.{fmt}"
        with av.open(str(path), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            if rotate is not None:
                stream.metadata["rotate"] = str(rotate)
            for i in range(frames):
                frame = av.VideoFrame.from_image(Image.new("RGB", size, (i * 20, 80, 0)))
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path.read_bytes()


def audio_only_mp4():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.mp4"
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("aac", rate=8000)
            for _ in range(5):
                frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate = 8000
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path.read_bytes()


def heic_like():
    """The first bytes of an iPhone HEIC photo (an ISO media file of brand heic)."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64


def uploaded(name, data, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- Posting ----------------------------------------------------------------------

UPLOAD_URL = "/api/library/images"


def post_files(client, *files, **headers):
    """POST files under `files` to the upload API; (response, parsed JSON)."""
    response = client.post(UPLOAD_URL, {"files": list(files)}, **headers)
    return response, json.loads(response.content)


def post_raw_names(client, *named):
    """POST (file name, bytes) pairs with the names exactly as given.

    The test client strips folders from file names before sending, as browsers
    do; a hostile client need not, so this writes the multipart body itself.
    """
    boundary = "i2v-test-boundary"
    parts = []
    for name, data in named:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    response = client.generic("POST", UPLOAD_URL, body, content_type=f"multipart/form-data; boundary={boundary}")
    return response, json.loads(response.content)


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, names in os.walk(folder) for f in names)
