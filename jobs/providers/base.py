"""The generation provider interface, the model registry and the price table.

A provider turns (source image, prompt, settings) into files: images for an
i2i step, a video for an i2v step. The executor stores the files as Assets and
adds up the cost; it never talks to a model itself, so a new provider touches
nothing outside this package.

Models, their provider ("local" or "fal") and their prices live in
settings.GENERATION_MODELS.
"""

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import av
from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image

from media_processing.renditions import orient, oriented_size, to_rgb

PROVIDERS = {
    "local": "jobs.providers.local.LocalProvider",
    "fal": "jobs.providers.fal.FalProvider",
}
# Step.cost_* and Pipeline.total_cost keep four decimals.
COST_PLACES = Decimal("0.0001")

# Settings every provider understands. The New pipeline form offers these values.
ASPECT_RATIOS = {"1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "3:2": (3, 2), "2:3": (2, 3), "16:9": (16, 9), "9:16": (9, 16)}
QUALITIES = ("draft", "standard", "high")
VIDEO_RESOLUTIONS = ("480p", "720p", "1080p")
IMAGES_PER_PROMPT_MAX = 4

# What we accept from outside, decided by decoding: the name or Content-Type is never trusted.
IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
VIDEO_FORMATS = {"mp4": ("video/mp4", "mp4"), "webm": ("video/webm", "webm")}


class ProviderError(Exception):
    """A generation that failed, with a message meant for the person who ran it.

    `retryable` says whether the same request may work later (a timeout, a busy
    service) or never will (bad input, a missing key): the executor retries
    only the former.
    """

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    @property
    def permanent(self):
        # What the work queue reads: a failure no retry can mend fails the step at once.
        return not self.retryable


class UnknownModel(ProviderError):
    def __init__(self, model_id):
        known = ", ".join(sorted(settings.GENERATION_MODELS))
        super().__init__(f"Unknown generation model {model_id!r}; the models are: {known}.")
        self.model_id = model_id


@dataclass(frozen=True)
class GeneratedFile:
    data: bytes = field(repr=False)  # megabytes: keep them out of logs and tracebacks
    mime: str
    extension: str  # suggested, without the dot
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds, videos only

    @property
    def kind(self):
        """"image" or "video", as Asset.kind spells it."""
        return "video" if self.mime.startswith("video/") else "image"

    @property
    def size(self):
        return len(self.data)


@dataclass
class ProviderResult:
    files: list[GeneratedFile]
    cost: Decimal
    metadata: dict = field(default_factory=dict)


class Provider(ABC):
    """One model of one provider. get_provider() builds them from the model registry.

    Both methods take the source as bytes or a PIL image, and an optional
    `on_progress(note)` callback that is called now and then while the work
    goes on: the executor beats the step's heartbeat there, and may raise from
    it to stop (a cancelled step). The exception propagates after the provider
    has stopped any remote work it started.
    """

    name = ""
    label = ""

    def __init__(self, model_id, spec):
        self.model_id = model_id
        self.spec = spec

    @abstractmethod
    def generate_images(self, source, prompt, settings, on_progress=None) -> ProviderResult:
        """Images made from `source` by `prompt`; settings: images_per_prompt,
        aspect_ratio, quality, negative_prompt, seed."""

    @abstractmethod
    def generate_video(self, image, prompt, settings, on_progress=None) -> ProviderResult:
        """A video made from `image` by `prompt`; settings: resolution,
        duration (seconds), aspect_ratio, negative_prompt, seed."""

    def require_kind(self, kind):
        # A video model asked for images would otherwise fail somewhere deep and obscure.
        if self.spec.get("kind") != kind:
            made = "videos" if self.spec.get("kind") == "i2v" else "images"
            raise ProviderError(f"{self.spec.get('label', self.model_id)} makes {made}; choose another model for this stage.")


def model_spec(model_id):
    try:
        return settings.GENERATION_MODELS[model_id]
    except KeyError:
        raise UnknownModel(model_id) from None


def get_provider(model_id):
    """The provider that runs `model_id`, ready to call."""
    spec = model_spec(model_id)
    path = PROVIDERS.get(spec.get("provider"))
    if path is None:
        raise ProviderError(
            f"Model {model_id!r} names provider {spec.get('provider')!r}, which doesn't exist "
            f"(settings.GENERATION_MODELS; providers: {', '.join(PROVIDERS)})."
        )
    return import_string(path)(model_id, spec)


def estimate_cost(model_id, images=0, video_seconds=0):
    """What `images` images plus `video_seconds` seconds of video cost on `model_id`, in USD.

    Providers charge with it too, so the estimate on the New pipeline page and
    the cost a step records come from the same table.
    """
    spec = model_spec(model_id)
    seconds = Decimal(str(video_seconds))
    cost = _price(spec, "per_image") * images + _price(spec, "per_second") * seconds
    return cost.quantize(COST_PLACES)


def _price(spec, key):
    try:
        return Decimal(str(spec.get(key) or "0"))
    except InvalidOperation:
        raise ProviderError(f"The price {key}={spec.get(key)!r} in settings.GENERATION_MODELS is not a number.") from None


# --- Settings -------------------------------------------------------------------------------


def int_setting(options, key, default, low, high):
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ProviderError(f"{key} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ProviderError(f"{key} must be between {low} and {high} (got {value}).")
    return value


def number_setting(options, key, default):
    raw = options.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ProviderError(f"{key} must be a number, not {raw!r}.") from None
    if not value > 0:
        raise ProviderError(f"{key} must be more than 0 (got {raw!r}).")
    return value


def choice_setting(options, key, choices, default):
    value = options.get(key) or default
    if value not in choices:
        raise ProviderError(f"{key} must be one of {', '.join(choices)} (got {value!r}).")
    return value


def aspect_ratio(options):
    """(w, h) of the requested aspect ratio, or None to keep the source's."""
    value = options.get("aspect_ratio") or "auto"
    if value in ("auto", "original", "source"):
        return None
    if value not in ASPECT_RATIOS:
        raise ProviderError(f"aspect_ratio must be auto or one of {', '.join(ASPECT_RATIOS)} (got {value!r}).")
    return ASPECT_RATIOS[value]


# --- Files in and out -----------------------------------------------------------------------


def source_image(source):
    """The source as an upright RGB PIL image. Accepts bytes, a file object or a PIL image."""
    if isinstance(source, Image.Image):
        return to_rgb(orient(source))
    data = source.read() if hasattr(source, "read") else bytes(source)
    try:
        image = _open_image(data)
        image.load()
    except ProviderError as error:
        raise ProviderError(f"The source image can't be used: {error.message}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ProviderError(f"The source image can't be decoded ({_sniff(data)}).") from None
    return to_rgb(orient(image))


def image_file(data, origin="The file"):
    """A GeneratedFile for image bytes from outside, after decoding them in full."""
    try:
        image = _open_image(data)
        image.load()  # a truncated file fails here, not later in the renditions
    except ProviderError as error:
        raise ProviderError(f"{origin} was refused: {error.message}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ProviderError(f"{origin} is not an image we can read ({_sniff(data)}).") from None
    if image.format not in IMAGE_FORMATS:
        raise ProviderError(f"{origin} is a {image.format} image; only {', '.join(IMAGE_FORMATS)} are accepted.")
    mime, ext = IMAGE_FORMATS[image.format]
    width, height = oriented_size(image)
    return GeneratedFile(data, mime, ext, width, height)


def _open_image(data):
    image = Image.open(io.BytesIO(data))
    # Checked before load(): the size is in the header, the pixels are what would eat the memory.
    if image.width * image.height > settings.GENERATION_MAX_PIXELS:
        raise ProviderError(
            f"{image.width}x{image.height} pixels is over the limit of {settings.GENERATION_MAX_PIXELS:,} "
            "(GENERATION_MAX_PIXELS)."
        )
    return image


def video_file(data, origin="The file"):
    """A GeneratedFile for video bytes from outside, after probing them and decoding a frame."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            format_name = container.format.name  # "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
            stream = container.streams.video[0]
            next(container.decode(stream))
            duration = _duration(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.error.FFmpegError, IndexError, StopIteration, ValueError, OSError):
        raise ProviderError(f"{origin} is not a video we can read ({_sniff(data)}).") from None
    kind = next((name for name in VIDEO_FORMATS if name in format_name.split(",")), None)
    if kind is None:
        raise ProviderError(f"{origin} is a {format_name} file; only MP4 and WebM videos are accepted.")
    mime, ext = VIDEO_FORMATS[kind]
    return GeneratedFile(data, mime, ext, width, height, duration)


def _duration(container, stream):
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _sniff(data):
    """A few words on what unreadable bytes look like, for the error message."""
    head = bytes(data[:256]).lstrip().lower()
    if not head:
        return "it is empty"
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return f"it looks like an HTML or XML page, {len(data):,} bytes"
    if head.startswith((b"{", b"[")):
        return f"it looks like JSON, {len(data):,} bytes"
    return f"unrecognised data, {len(data):,} bytes"
