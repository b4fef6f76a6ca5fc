"""Generation parameters that travel inside image files.

The text is in the convention AUTOMATIC1111's web UI made common, which most
image tools read (and write):

    a red fox at dusk
    Negative prompt: blurry
    Steps: 30, Seed: 42, Model: flux-kontext, Size: 1024x1024

It goes where each format keeps such text: a PNG `tEXt` chunk named
`parameters`; for JPEG and WebP an XMP packet (dc:description, which viewers
show, and i2v:parameters). Both are added without decoding or re-encoding the
picture, so no pixel changes: a chunk inserted before the PNG's image data, an
APP1 segment after the JPEG's first segments, an `XMP ` chunk in an extended
WebP. Reading also knows the EXIF UserComment where A1111 itself puts them in
JPEG and WebP.

Nothing here trusts the file: sizes are capped, parse errors give None.
"""

import io
import json
import logging
import re
import struct
import zlib
from xml.etree import ElementTree

from PIL import Image
from PIL.ExifTags import IFD

logger = logging.getLogger(__name__)

KEY = "parameters"
MAX_TEXT = 32 * 1024  # longer than any prompt a provider takes; keeps a JPEG's APP1 within 64 KB
MAX_XMP = 256 * 1024
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "i2v": "https://github.com/i2v/ns/1.0/",
}
USER_COMMENT = 0x9286
# "Key: value" pairs of the settings line; a value with a comma is JSON-quoted. A key starts a word
# and is at most 64 characters long (A1111's longest are 20 or so): unbounded, each place of a long line
# without a colon was a key run to the line's end and back, 5.5 s for a file's 32 KB of "x" (once per
# view of its details).
_PAIR = re.compile(r'(?<![\w\-/])([A-Za-z][\w \-/]{0,63}):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


# --- The text -----------------------------------------------------------------------------------


# Control characters, and lone UTF-16 surrogates (no character: no page, JSON answer or database column
# can encode one).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _value(value):
    text = str(value)
    return json.dumps(text) if any(c in text for c in ',:"\n') else text


def format_text(prompt, settings, negative_prompt=""):
    """The A1111 text of a prompt and its settings ({"Steps": 30, "Seed": 42, ...}; empty ones left out)."""
    lines = [prompt.strip()]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt.strip()}")
    pairs = [f"{key}: {_value(value)}" for key, value in settings.items() if value not in (None, "")]
    if pairs:
        lines.append(", ".join(pairs))
    return "\n".join(lines)[:MAX_TEXT]


def parse_text(text):
    """{"prompt", "negative_prompt", "settings": {...}, "raw"} of A1111 text.

    The last line is the settings line when it holds at least one "Key: value"
    pair naming Steps, Seed or Model; everything before it (up to a
    "Negative prompt:" line) is the prompt.
    """
    # A file's text may hold any bytes: control characters (a NUL is an HTML parse error where the
    # prompt becomes an image's alt text) go, and Windows line ends become the lines they mean.
    text = _CONTROL.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()[:MAX_TEXT]
    if not text:
        return None
    *lines, last = text.split("\n")
    pairs = {key.strip(): _unquote(value.strip()) for key, value in _PAIR.findall(last)}
    if not {"Steps", "Seed", "Model"} & pairs.keys():
        lines.append(last)
        pairs = {}
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    return {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip(), "settings": pairs, "raw": text}


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            text = json.loads(value)
            # "\ud800" reads as a lone surrogate, which no page or JSON answer can encode (a 500 on the
            # viewer's panel): such a value stays as the file wrote it (UnicodeEncodeError is a ValueError).
            text.encode()
            return text
        except ValueError:
            pass
    return value


# --- Writing into a file ------------------------------------------------------------------------


def embed(data, mime, text):
    """`data` with `text` inside, or `data` unchanged when its format can't carry it (or is broken)."""
    writer = {"image/png": _png_with, "image/jpeg": _jpeg_with, "image/webp": _webp_with}.get(mime)
    if writer is None or not text:
        return data
    try:
        return writer(data, text[:MAX_TEXT])
    except (ValueError, struct.error, OSError, IndexError) as exc:
        logger.warning("could not write generation parameters into a %s: %s", mime, exc)
        return data


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_with(data, text):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    # Latin-1 text goes in tEXt, as A1111 writes it; anything else in an iTXt (UTF-8).
    try:
        chunk = _png_chunk(b"tEXt", KEY.encode() + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        chunk = _png_chunk(b"iTXt", KEY.encode() + b"\x00\x00\x00\x00\x00" + text.encode())
    # Before the first IDAT, where readers (Pillow among them) find it without decoding the picture.
    at = data.index(b"IDAT") - 4
    view = memoryview(data)  # one copy of a large file, not three
    return b"".join((view[:at], chunk, view[at:]))


def xmp_packet(text):
    esc = _CONTROL.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="{NS["x"]}"><rdf:RDF xmlns:rdf="{NS["rdf"]}">'
        f'<rdf:Description rdf:about="" xmlns:dc="{NS["dc"]}" xmlns:i2v="{NS["i2v"]}">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc}</rdf:li></rdf:Alt></dc:description>'
        f"<i2v:parameters>{esc}</i2v:parameters>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _jpeg_with(data, text):
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    body = XMP_HEADER + xmp_packet(text)
    if len(body) + 2 > 0xFFFF:
        raise ValueError("parameters too long for one JPEG segment")
    # After SOI and a JFIF APP0 (which must come first), before everything else.
    at = 2
    if data[2:4] == b"\xff\xe0":
        at += 2 + struct.unpack(">H", data[4:6])[0]
    if data[at : at + 1] != b"\xff" or len(data) < at + 4:
        raise ValueError("a JPEG cut short")
    view = memoryview(data)
    return b"".join((view[:at], b"\xff\xe1", struct.pack(">H", len(body) + 2), body, view[at:]))


def _riff_chunks(data):
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    at, chunks, view = 12, [], memoryview(data)
    while at + 8 <= len(data):
        kind, size = bytes(view[at : at + 4]), struct.unpack("<I", view[at + 4 : at + 8])[0]
        chunks.append((kind, view[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    return chunks


def _webp_with(data, text):
    chunks = [c for c in _riff_chunks(data) if c[0] != b"XMP "]
    if chunks[0][0] != b"VP8X":
        # A simple WebP: extended first (a VP8X header with the canvas size) so it may carry XMP.
        with Image.open(io.BytesIO(data)) as im:
            width, height, alpha = im.width, im.height, "A" in im.getbands()
        header = bytes([0x10 if alpha else 0]) + b"\x00\x00\x00"
        header += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", header))
    flags = chunks[0][1][0] | 0x04  # the XMP flag
    chunks[0] = (b"VP8X", bytes([flags]) + bytes(chunks[0][1][1:]))
    chunks.append((b"XMP ", xmp_packet(text)))
    parts = [part for kind, c in chunks for part in (kind, struct.pack("<I", len(c)), c, b"\x00" * (len(c) & 1))]
    size = 4 + sum(len(part) for part in parts)
    return b"".join((b"RIFF", struct.pack("<I", size), b"WEBP", *parts))


# --- Reading from a file ------------------------------------------------------------------------


def read(file):
    """parse_text() of the parameters inside an image file (an open binary file), or None.

    Only the headers are read: Pillow stops at the picture data (_exif() sees that it does).
    """
    try:
        with Image.open(file) as im:
            text = _text_of(im)
    except Exception as exc:  # noqa: BLE001 - any undecodable upload simply has none
        logger.info("no parameters read: %s", exc)
        return None
    return parse_text(text) if text else None


def _text_of(im):
    text = im.info.get(KEY)
    if isinstance(text, str):
        return text
    xmp = im.info.get("xmp")
    if xmp:
        text = _from_xmp(xmp if isinstance(xmp, bytes) else str(xmp).encode())
        if text:
            return text
    return _from_user_comment(im)


def _from_xmp(xmp):
    if len(xmp) > MAX_XMP:
        return None
    start, end = xmp.find(b"<x:xmpmeta"), xmp.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ElementTree.fromstring(xmp[start : end + len(b"</x:xmpmeta>")])
    except ElementTree.ParseError:
        return None
    ours = root.find(".//i2v:parameters", NS)
    if ours is not None and ours.text:
        return ours.text
    described = root.find(".//dc:description//rdf:li", NS)
    text = described.text if described is not None else None
    # Someone else's description is a caption, not parameters, unless it reads like them.
    return text if text and parse_text(text)["settings"] else None


def _exif(im):
    """The file's EXIF without decoding its picture. Pillow's PNG getexif() decodes the whole picture
    to look for an eXIf chunk after it when none came before (1.3 s and 400 MB for a 100-megapixel
    PNG, on each view of its details); the PNG specification puts eXIf before the picture data,
    where open() has read it."""
    if im.format != "PNG":
        return im.getexif()
    exif = Image.Exif()
    if "exif" in im.info:
        exif.load(im.info["exif"])
    return exif


def _from_user_comment(im):
    try:
        comment = _exif(im).get_ifd(IFD.Exif).get(USER_COMMENT)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no parameters
        return None
    if isinstance(comment, bytes):
        prefix, body = comment[:8], comment[8:]
        if prefix.startswith(b"UNICODE"):
            # A1111 (through piexif) writes UTF-16 big-endian; some tools little-endian.
            endian = "utf-16-le" if body[:1] != b"\x00" and body[1:2] == b"\x00" else "utf-16-be"
            comment = body.decode(endian, "replace")
        else:
            comment = body.decode("utf-8", "replace")
    if isinstance(comment, str):
        comment = comment.strip("\x00 ")
        return comment if comment and parse_text(comment)["settings"] else None
    return None
