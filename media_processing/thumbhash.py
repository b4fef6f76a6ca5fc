"""ThumbHash: a blurred placeholder of an image in about 25 bytes.

An implementation of Evan Wallace's format (https://evanw.github.io/thumbhash/):
the average colour plus a few low-frequency DCT terms of luminance, two colour
channels and alpha, quantised to 4 bits each. It is stored base64-encoded on
Asset.thumbhash (at most 36 characters), so a page can paint something shaped
and coloured like the image before the 300 px rendition arrives.

Encoding runs in the worker on the 150 px rendition shrunk to 32 px: the terms
kept are so coarse that more pixels would not change them, and 32 px keeps the
pure-Python DCT to a few milliseconds.
"""

import base64
import io
import math
from operator import mul

from PIL import Image

ENCODE_SIDE = 32
DECODE_SIDE = 32


def _round(x):
    # JavaScript's Math.round (half up), which the reference encoder uses;
    # Python's round() goes to even and would flip some 4-bit terms.
    return math.floor(x + 0.5)


def encode(image):
    """Base64 ThumbHash of a PIL image of any mode and size."""
    small = image.convert("RGBA")
    small.thumbnail((ENCODE_SIDE, ENCODE_SIDE))
    return base64.b64encode(rgba_to_thumbhash(small.width, small.height, small.tobytes())).decode()


def rgba_to_thumbhash(w, h, rgba):
    """The ThumbHash bytes of w x h pixels of RGBA bytes (not premultiplied)."""
    if not (0 < w <= 100 and 0 < h <= 100):
        raise ValueError(f"{w}x{h} does not fit in 100x100")
    n = w * h
    alphas = [rgba[i + 3] / 255 for i in range(0, 4 * n, 4)]
    avg_a = sum(alphas)
    avg = [0.0, 0.0, 0.0]
    if avg_a:
        for c in range(3):
            avg[c] = sum(alphas[i] * rgba[4 * i + c] / 255 for i in range(n)) / avg_a
    has_alpha = avg_a < n
    l_limit = 5 if has_alpha else 7  # fewer luminance terms leave room for alpha
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))

    # RGBA to LPQA, composited over the average colour.
    lum, p, q = [], [], []
    for i in range(n):
        a = alphas[i]
        r, g, b = (avg[c] * (1 - a) + a * rgba[4 * i + c] / 255 for c in range(3))
        lum.append((r + g + b) / 3)
        p.append((r + g) / 2 - b)
        q.append(r - g)

    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q, w, h, 3, 3)
    is_landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | _round(31.5 + 31.5 * p_dc) << 6
        | _round(31.5 + 31.5 * q_dc) << 12
        | _round(31 * l_scale) << 18
        | int(has_alpha) << 23
    )
    header16 = (
        (ly if is_landscape else lx) | _round(63 * p_scale) << 3 | _round(63 * q_scale) << 9 | int(is_landscape) << 15
    )
    out = [header24 & 255, header24 >> 8 & 255, header24 >> 16, header16 & 255, header16 >> 8]
    channels = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(alphas, w, h, 5, 5)
        out.append(_round(15 * a_dc) | _round(15 * a_scale) << 4)
        channels.append(a_ac)
    start = len(out)
    index = 0
    for ac in channels:
        for f in ac:
            if start + (index >> 1) == len(out):
                out.append(0)
            out[start + (index >> 1)] |= _round(15 * f) << ((index & 1) << 2)
            index += 1
    return bytes(out)


def _encode_channel(channel, w, h, nx, ny):
    """(DC term, AC terms scaled to 0..1, their scale) of a DCT of one channel.

    Separable: each row is multiplied by every horizontal cosine once, then
    the row sums by the vertical cosines, instead of w*h work per term.
    """
    fx = [[math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)] for cx in range(nx)]
    fy = [[math.cos(math.pi / h * cy * (y + 0.5)) for y in range(h)] for cy in range(ny)]
    rows = [channel[y * w : (y + 1) * w] for y in range(h)]
    row_sums = [[sum(map(mul, row, cos_x)) for row in rows] for cos_x in fx]
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = sum(map(mul, row_sums[cx], fy[cy])) / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def _header(data):
    header24 = data[0] | data[1] << 8 | data[2] << 16
    header16 = data[3] | data[4] << 8
    has_alpha = bool(header24 >> 23)
    is_landscape = bool(header16 >> 15)
    lx = (5 if has_alpha else 7) if is_landscape else header16 & 7
    ly = header16 & 7 if is_landscape else (5 if has_alpha else 7)
    return header24, header16, has_alpha, lx, ly


def _lpq_to_rgb(lum, p, q):
    b = lum - 2 / 3 * p
    r = (3 * lum - b + q) / 2
    return r, r - q, b


def average_rgb(thumbhash):
    """The image's average colour as (r, g, b) in 0..255: a CSS background for a tile."""
    header24 = _header(base64.b64decode(thumbhash))[0]
    lum = (header24 & 63) / 63
    p = (header24 >> 6 & 63) / 31.5 - 1
    q = (header24 >> 12 & 63) / 31.5 - 1
    return tuple(max(0, min(255, _round(255 * v))) for v in _lpq_to_rgb(lum, p, q))


def to_image(thumbhash):
    """Render a ThumbHash as an RGBA image of at most 32 px a side."""
    data = base64.b64decode(thumbhash)
    header24, header16, has_alpha, lx_raw, ly_raw = _header(data)
    lx, ly = max(3, lx_raw), max(3, ly_raw)
    l_dc = (header24 & 63) / 63
    p_dc = (header24 >> 6 & 63) / 31.5 - 1
    q_dc = (header24 >> 12 & 63) / 31.5 - 1
    l_scale = (header24 >> 18 & 31) / 31
    p_scale = (header16 >> 3 & 63) / 63
    q_scale = (header16 >> 9 & 63) / 63
    a_dc = (data[5] & 15) / 15 if has_alpha else 1.0
    a_scale = (data[5] >> 4) / 15 if has_alpha else 0.0
    start = 6 if has_alpha else 5
    index = 0

    def read(nx, ny, scale):
        nonlocal index
        terms = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                nibble = data[start + (index >> 1)] >> ((index & 1) << 2) & 15
                terms.append((nibble / 7.5 - 1) * scale)
                index += 1
                cx += 1
        return terms

    # The reference decoder boosts colour by 1.25 to make up for quantisation.
    l_ac = read(lx, ly, l_scale)
    p_ac = read(3, 3, p_scale * 1.25)
    q_ac = read(3, 3, q_scale * 1.25)
    a_ac = read(5, 5, a_scale) if has_alpha else []

    ratio = lx_raw / ly_raw
    w = _round(DECODE_SIDE if ratio > 1 else DECODE_SIDE * ratio)
    h = _round(DECODE_SIDE / ratio if ratio > 1 else DECODE_SIDE)
    pixels = bytearray()
    for y in range(h):
        fy = [math.cos(math.pi / h * (y + 0.5) * c) * 2 for c in range(max(ly, 5))]
        for x in range(w):
            fx = [math.cos(math.pi / w * (x + 0.5) * c) for c in range(max(lx, 5))]
            lum = l_dc + _sum_terms(l_ac, lx, ly, fx, fy)
            p = p_dc + _sum_terms(p_ac, 3, 3, fx, fy)
            q = q_dc + _sum_terms(q_ac, 3, 3, fx, fy)
            a = a_dc + _sum_terms(a_ac, 5, 5, fx, fy) if has_alpha else 1.0
            for v in (*_lpq_to_rgb(lum, p, q), a):
                pixels.append(max(0, min(255, _round(255 * v))))
    return Image.frombytes("RGBA", (w, h), bytes(pixels))


def _sum_terms(ac, nx, ny, fx, fy):
    total, j = 0.0, 0
    for cy in range(ny):
        cx = 0 if cy else 1
        while cx * ny < nx * (ny - cy):
            total += ac[j] * fx[cx] * fy[cy]
            j += 1
            cx += 1
    return total


def data_url(thumbhash):
    """The placeholder as a PNG data: URL (about 1 KB), for an <img> without JavaScript."""
    buf = io.BytesIO()
    to_image(thumbhash).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
