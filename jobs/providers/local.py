"""The local preview provider: stand-in outputs made on this machine, for free.

It needs no network and no model weights, so a fresh install runs whole
pipelines end to end. Nothing here is AI, but every output is visibly this
source turned by this prompt: words of the prompt pick looks (LOOKS: "pencil
sketch", "watercolor", "neon", "sepia", "winter", "pixel art" ...) applied to
the source, a hash of the prompt and the seed varies the colours of the rest,
and the prompt is written on the image. A "video" is a slow zoom and pan over
the turned image. The label says so wherever the UI names the provider.

It is synchronous (submit() answers with the file) and runs in the worker that
claimed the step, reporting progress through the job, which renews the lease.

Same inputs, same bytes: every choice comes from the prompt and its hash, never
from a clock or a random generator, so reruns and tests are reproducible.
"""

import functools
import hashlib
import io
import textwrap
from dataclasses import dataclass
from fractions import Fraction

import av
from decimal import Decimal

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from .base import (
    COMPLETED,
    QUALITIES,
    SEED_MAX,
    VIDEO_RESOLUTIONS,
    GeneratedFile,
    Provider,
    Remote,
    aspect_ratio,
    choice_setting,
    int_setting,
    number_setting,
    source_image,
)

LABEL = "Local preview provider"
# Long side of an image, in pixels, and its JPEG quality, by the quality setting.
LONG_SIDE = {"draft": 512, "standard": 1024, "high": 1536}
JPEG_QUALITY = {"draft": 80, "standard": 88, "high": 92}
# The box a video fits in, landscape; 1080p is capped at 720p to keep a clip
# to a second or two of CPU. Portrait videos use the box turned on its side.
VIDEO_BOXES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1280, 720)}
FPS_DEFAULT, FPS_RANGE = 24, (12, 24)
SECONDS_DEFAULT, SECONDS_RANGE = 2, (1, 4)
# Frames are cut from a copy of the image this much bigger than the video, so
# the zoom never magnifies past the copy's own pixels.
OVERSCAN = 1.25
PROGRESS_EVERY = 12  # frames between on_progress calls


class LocalProvider(Provider):
    name = "local"
    label = LABEL

    synchronous = True
    resubmit_safe = True

    def submit(self, job):
        self.require_kind(job.kind)
        make = self.image if job.kind == "i2i" else self.video
        file = make(job.source(), job.prompt, job.options, job.progress)
        return Remote(COMPLETED, external_id=f"local-{job.token}", files=[file], reported_cost=Decimal("0"))

    def image(self, source, prompt, options, on_progress=None):
        """One image: the source, cropped to the aspect ratio, turned by the prompt."""
        quality = choice_setting(options, "quality", QUALITIES, "standard")
        seed = int_setting(options, "seed", 0, 0, SEED_MAX)
        key = f"{prompt}\0{options.get('negative_prompt') or ''}"
        image = source_image(source)
        base = crop_to(image, target_size(image.size, aspect_ratio(options), LONG_SIDE[quality]))
        file = render(base, prompt, Style.of(key, seed), JPEG_QUALITY[quality])
        if on_progress:
            on_progress("image made")
        return file

    def video(self, image, prompt, options, on_progress=None):
        """One clip: a slow zoom and pan over the source as the prompt turns it."""
        resolution = choice_setting(options, "resolution", VIDEO_RESOLUTIONS, "480p")
        fps = int_setting(options, "fps", FPS_DEFAULT, *FPS_RANGE)
        seed = int_setting(options, "seed", 0, 0, SEED_MAX)
        requested = number_setting(options, "duration", SECONDS_DEFAULT)
        # Longer requests are shortened rather than refused: a preview of a 10 s clip is still useful.
        seconds = min(max(requested, SECONDS_RANGE[0]), SECONDS_RANGE[1])
        frames = round(seconds * fps)
        still = source_image(image)
        ratio = aspect_ratio(options)
        if ratio:
            still = crop_to(still, target_size(still.size, ratio, max(still.size)))
        still = apply_looks(still, looks_of(prompt))
        size = video_size(still.size, VIDEO_BOXES[resolution])
        data = encode_clip(still, size, Motion.of(prompt, seed), fps, frames, on_progress)
        return GeneratedFile(data, "video/mp4", "mp4", size[0], size[1], frames / fps)


# --- Images ---------------------------------------------------------------------------------


def target_size(source_size, ratio, long_side):
    """(w, h) with the given ratio (or the source's) and `long_side` as its longer side."""
    rw, rh = ratio or source_size
    if rw >= rh:
        return long_side, max(1, round(long_side * rh / rw))
    return max(1, round(long_side * rw / rh)), long_side


def crop_to(image, size):
    """`image` centre-cropped to the aspect of `size` and resized to it, in one resample."""
    w, h = image.size
    tw, th = size
    scale = max(tw / w, th / h)
    cw, ch = tw / scale, th / scale
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    # reducing_gap: a big photo is first shrunk by a cheap integer reduce, then resampled properly.
    return image.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=2.0)


@dataclass(frozen=True)
class Look:
    words: tuple  # any of these in the prompt picks the look
    apply: object  # image -> image
    own_palette: bool = False


def _sketch(image):
    edges = ImageOps.invert(image.convert("L").filter(ImageFilter.FIND_EDGES))
    return ImageOps.autocontrast(edges, cutoff=2).convert("RGB")


def _watercolor(image):
    soft = image.filter(ImageFilter.ModeFilter(5)).filter(ImageFilter.SMOOTH_MORE)
    return ImageEnhance.Color(soft).enhance(1.4)


def _neon(image):
    glow = image.filter(ImageFilter.FIND_EDGES).filter(ImageFilter.MaxFilter(3))
    dark = ImageEnhance.Brightness(image).enhance(0.35)
    return Image.blend(dark, ImageOps.colorize(glow.convert("L"), "#12001f", "#ff2bd6", mid="#19e6ff"), 0.65)


def _sepia(image):
    return ImageOps.colorize(ImageOps.grayscale(image), "#2b1a0e", "#f3e0bd")


def _noir(image):
    return ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=3).convert("RGB")


def _winter(image):
    cold = ImageOps.colorize(ImageOps.grayscale(image), "#0b1e3a", "#eef6ff")
    return Image.blend(image, cold, 0.7)


def _sunset(image):
    warm = ImageOps.colorize(ImageOps.grayscale(image), "#3a0a12", "#ffd27a")
    return Image.blend(image, warm, 0.55)


def _night(image):
    return ImageEnhance.Brightness(Image.blend(image, Image.new("RGB", image.size, "#0a1440"), 0.45)).enhance(0.6)


def _pixel(image):
    w, h = image.size
    small = image.resize((max(1, w // 24), max(1, h // 24)), Image.Resampling.BILINEAR)
    return ImageOps.posterize(small, 3).resize(image.size, Image.Resampling.NEAREST)


def _comic(image):
    flat = ImageOps.posterize(image.filter(ImageFilter.SMOOTH_MORE), 3)
    lines = image.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    return Image.composite(Image.new("RGB", image.size), flat, lines)


def _dreamy(image):
    return Image.blend(image, image.filter(ImageFilter.GaussianBlur(max(2, image.width // 120))), 0.6)


def _mirror(image):
    return ImageOps.mirror(image)


# Ordered: a prompt naming several looks gets them in this order.
LOOKS = {
    "sketch": Look(("sketch", "pencil", "drawing", "line art"), _sketch, own_palette=True),
    "comic": Look(("comic", "cartoon", "pop art", "anime"), _comic),
    "watercolor": Look(("watercolor", "watercolour", "painting", "painted", "oil"), _watercolor),
    "pixel": Look(("pixel", "8-bit", "8 bit", "retro game"), _pixel),
    "dreamy": Look(("dream", "soft focus", "ethereal", "foggy", "mist"), _dreamy),
    "winter": Look(("winter", "snow", "frozen", "ice"), _winter, own_palette=True),
    "sunset": Look(("sunset", "golden hour", "dawn", "autumn", "warm"), _sunset, own_palette=True),
    "night": Look(("night", "moonlight", "midnight", "dark"), _night, own_palette=True),
    "neon": Look(("neon", "cyberpunk", "synthwave", "glow"), _neon, own_palette=True),
    "sepia": Look(("sepia", "vintage", "old photo", "1920"), _sepia, own_palette=True),
    "noir": Look(("noir", "black and white", "monochrome", "b&w"), _noir, own_palette=True),
    "mirror": Look(("mirror", "flipped", "reflection"), _mirror),
}


def looks_of(prompt):
    """Names of the looks the prompt asks for, in LOOKS order."""
    text = f" {prompt.lower()} "
    return [name for name, look in LOOKS.items() if any(word in text for word in look.words)]


def apply_looks(image, names):
    for name in names:
        image = LOOKS[name].apply(image)
    return image


@dataclass(frozen=True)
class Style:
    """The look of one variant, drawn from a hash of the prompt and the seed."""

    hue_shift: int  # steps round Pillow's 256-step hue wheel
    saturation: float
    posterize_bits: int  # 8 leaves the colours alone
    tint: tuple
    tint_amount: float
    vignette: float
    seed: int

    @classmethod
    def of(cls, key, seed):
        d = hashlib.sha256(f"{key}\0{seed}".encode()).digest()
        # Gentle on purpose: the output must still read as this source, only turned.
        return cls(
            hue_shift=(d[0] % 37 - 18) % 256,
            saturation=0.85 + d[1] / 255 * 0.45,
            posterize_bits=(5, 8, 8, 8)[d[2] % 4],
            tint=(d[3], d[4], d[5]),
            tint_amount=0.04 + d[6] / 255 * 0.1,
            vignette=0.2 + d[7] / 255 * 0.35,
            seed=seed,
        )


def render(base, prompt, style, quality):
    looks = looks_of(prompt)
    # A look that sets its own palette replaces the hash's colour play, so "sepia" stays sepia.
    image = apply_looks(base, looks) if looks else base
    if not any(LOOKS[name].own_palette for name in looks):
        image = stylise(image, style)
    caption(image, prompt, f"{LABEL} · seed {style.seed}")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False)
    return GeneratedFile(buf.getvalue(), "image/jpeg", "jpg", image.width, image.height)


def stylise(image, style):
    hue, sat, val = image.convert("HSV").split()
    hue = hue.point(lambda v: (v + style.hue_shift) % 256)
    sat = sat.point(lambda v: min(255, round(v * style.saturation)))
    image = Image.merge("HSV", (hue, sat, val)).convert("RGB")
    if style.posterize_bits < 8:
        image = ImageOps.posterize(image, style.posterize_bits)
    image = Image.blend(image, Image.new("RGB", image.size, style.tint), style.tint_amount)
    return vignette(image, style.vignette)


def vignette(image, strength):
    # radial_gradient is 0 at the centre and 255 from the edges' midpoints out,
    # so scaled to the image and by `strength` it says how dark each pixel gets.
    mask = Image.radial_gradient("L").resize(image.size, Image.Resampling.BILINEAR)
    mask = mask.point(lambda v: round(v * strength))
    return Image.composite(Image.new("RGB", image.size), image, mask)


def caption(image, prompt, note):
    """Write the prompt (two lines at most) and `note` on a dark band at the bottom, in place."""
    w, h = image.size
    size = max(11, w // 34)
    font, small = _font(size), _font(max(9, size * 3 // 4))
    pad = size // 2
    lines = wrap(prompt, font, w - 2 * pad, max_lines=2)
    line_h = round(size * 1.25)
    band_h = min(h, pad * 2 + line_h * len(lines) + round(size * 1.1))
    top = h - band_h
    band = image.crop((0, top, w, h))
    image.paste(Image.blend(band, Image.new("RGB", band.size), 0.6), (0, top))
    draw = ImageDraw.Draw(image)
    y = top + pad
    for line in lines:
        draw.text((pad, y), line, font=font, fill=(255, 255, 255))
        y += line_h
    draw.text((pad, y), note, font=small, fill=(190, 190, 190))


@functools.cache
def _font(size):
    # Pillow's bundled font: the same glyphs on every machine, no system fonts needed.
    return ImageFont.load_default(size=size)


def wrap(text, font, width, max_lines):
    """Lines of `text` no wider than `width`; the last ends in an ellipsis if text is left over."""
    words = " ".join(text.split())
    if not words:
        return []
    # A first cut by characters, then trimmed by measured width (glyphs vary).
    per_line = max(8, int(width / max(1, font.getlength("n"))))
    lines = textwrap.wrap(words, per_line, break_long_words=True)
    shown = [fit_line(line, font, width) for line in lines[:max_lines]]
    if len(lines) > max_lines or shown[-1] != lines[len(shown) - 1]:
        shown[-1] = fit_line(shown[-1] + "…", font, width, ellipsis=True)
    return shown


def fit_line(line, font, width, ellipsis=False):
    while font.getlength(line) > width and len(line) > 1:
        line = line[:-2] + "…" if ellipsis else line[:-1]
    return line


# --- Videos ---------------------------------------------------------------------------------


def video_size(still_size, box):
    """The still's size fitted inside `box` (turned to match its orientation), even for yuv420p."""
    w, h = still_size
    bw, bh = box if w >= h else box[::-1]
    scale = min(bw / w, bh / h)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


@dataclass(frozen=True)
class Motion:
    """A Ken Burns move: zoom from one level to another while the view drifts across."""

    zoom_from: float
    zoom_to: float
    start: tuple  # where the view sits in the room the zoom leaves, 0..1 on each axis
    end: tuple

    @classmethod
    def of(cls, prompt, seed):
        d = hashlib.sha256(f"{prompt}\0{seed}\0motion".encode()).digest()
        near, far = 1.0 + 0.05 * d[0] / 255, 1.12 + 0.13 * d[1] / 255
        zoom_in = d[2] % 2 == 0
        start = (d[3] / 255, d[4] / 255)
        end = (1 - start[0], 1 - start[1])  # across the image, so the pan is visible
        return cls(near if zoom_in else far, far if zoom_in else near, start, end)

    def box(self, t, source_size):
        """The part of the source shown at t in 0..1 (eased), as a crop box."""
        t = t * t * (3 - 2 * t)
        w, h = source_size
        zoom = self.zoom_from + (self.zoom_to - self.zoom_from) * t
        vw, vh = w / zoom, h / zoom
        x = (self.start[0] + (self.end[0] - self.start[0]) * t) * (w - vw)
        y = (self.start[1] + (self.end[1] - self.start[1]) * t) * (h - vh)
        return x, y, x + vw, y + vh


def encode_clip(still, size, motion, fps, frames, on_progress=None):
    """MP4 bytes (H.264 when this FFmpeg has it, else MPEG-4 Part 2) of `motion` over `still`."""
    # Resampled once to a little over the video's size: cutting each frame
    # from the full still would cost more than encoding the whole clip.
    source = still.resize((round(size[0] * OVERSCAN), round(size[1] * OVERSCAN)), Image.Resampling.BICUBIC, reducing_gap=2.0)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = _video_stream(container, size, fps)
        for n in range(frames):
            t = n / (frames - 1) if frames > 1 else 0.0
            image = source.resize(size, Image.Resampling.BILINEAR, box=motion.box(t, source.size))
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = n, Fraction(1, fps)
            container.mux(stream.encode(frame))
            if on_progress and (n + 1) % PROGRESS_EVERY == 0:
                on_progress(f"frame {n + 1} of {frames}")
        container.mux(stream.encode(None))
    return buf.getvalue()


def _video_stream(container, size, fps):
    codec = video_codec()
    if codec == "libx264":
        # One thread: workers already run a job per core, and it keeps the bytes reproducible.
        stream = container.add_stream(codec, rate=fps, options={"preset": "veryfast", "crf": "26", "threads": "1"})
    else:
        stream = container.add_stream(codec, rate=fps)
        stream.bit_rate = 2_000_000
        stream.codec_context.thread_count = 1
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    return stream


@functools.cache
def video_codec():
    # Some FFmpeg builds leave out x264 (it is GPL). mpeg4 is always built in; browsers
    # may not play it inline, but it decodes everywhere else, posters included.
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"
