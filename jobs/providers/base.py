"""The generation provider interface: what every provider module implements.

A provider runs one planned output (a Job: source image, prompt, settings) on
one model. The executor never waits on it: it submits and returns, the poller
checks many requests per tick (or a webhook tells), and a short task fetches the
files. Synchronous providers (the local preview, OpenAI Images, Gemini) answer
the submission with the files themselves.

Errors say what may be done next, because money depends on it:
- ProviderError(retryable=False): the request can never work (bad input, no key).
- ProviderError(retryable=True): the provider did not take the request (it
  answered 5xx, or nothing was sent); trying again costs nothing extra.
- RateLimited: the provider said "not now" (429); it is tried again after
  Retry-After without counting as an attempt.
- OutcomeUnknown: the request may have reached the provider (a timeout after it
  was sent). It is never sent again by itself: it is looked up where the
  provider allows, else shown to its owner.

Models, their provider and their prices: jobs/catalog.toml (jobs/catalog.py).
"""

import hashlib
import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import av
from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image

from media_processing.renditions import orient, oriented_size, to_rgb

PROVIDERS = {
    "local": "jobs.providers.local.LocalProvider",
    "fal": "jobs.providers.fal.FalProvider",
    "replicate": "jobs.providers.replicate.ReplicateProvider",
    "openai": "jobs.providers.openai_images.OpenAIImagesProvider",
    "gemini": "jobs.providers.gemini.GeminiProvider",
    "comfyui": "jobs.providers.comfyui.ComfyUIProvider",
}

# Settings every provider understands. The New pipeline form offers these values.
ASPECT_RATIOS = {"1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "3:2": (3, 2), "2:3": (2, 3), "16:9": (16, 9), "9:16": (9, 16)}
QUALITIES = ("draft", "standard", "high")
VIDEO_RESOLUTIONS = ("480p", "720p", "1080p")
IMAGES_PER_PROMPT_MAX = 4
# A pipeline's seeds: the range every provider here takes (Replicate's and Gemini's are an int32; fal and
# ComfyUI take more), so no step is refused for its seed. A step's is its pipeline's plus its variant, wrapped.
SEED_MAX = 2**31 - 1

# What we accept from outside, decided by decoding: the name or Content-Type is never trusted.
IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
VIDEO_FORMATS = {"mp4": ("video/mp4", "mp4"), "webm": ("video/webm", "webm")}

# Request states, as the lifecycle (jobs/remote.py) and the providers say them.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, NOT_FOUND = (
    "queued", "running", "completed", "failed", "cancelled", "not_found",
)  # fmt: skip


class ProviderError(Exception):
    """A generation that failed, with a message meant for the person who ran it."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    @property
    def permanent(self):
        # What the work queue reads: a failure no retry can mend fails the step at once.
        return not self.retryable


class RateLimited(ProviderError):
    """The provider refused the request for now (HTTP 429): nothing was started."""

    def __init__(self, message, retry_after=None):
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


class OutcomeUnknown(ProviderError):
    """The request may have reached the provider: never sent again by itself."""

    def __init__(self, message):
        super().__init__(message, retryable=False)


class UnknownModel(ProviderError):
    def __init__(self, model_id):
        known = ", ".join(sorted(settings.GENERATION_MODELS))
        super().__init__(f"Unknown generation model {model_id!r}; the models are: {known}.")
        self.model_id = model_id


class WebhookRefused(Exception):
    """A webhook call that is not from the provider (bad or missing signature, too old)."""


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
class Job:
    """One planned output, as a provider sees it."""

    model: str
    kind: str  # "i2i" or "i2v"
    prompt: str
    options: dict  # the step's config: seed, negative_prompt, aspect_ratio, quality, resolution, duration
    source: Callable[[], bytes]  # the source image's bytes, read when needed
    token: str  # our id of the request: in the webhook URL, and the client id where a provider takes one
    webhook_url: str | None = None
    progress: Callable[[str], None] | None = None  # for synchronous work: beats the lease, may stop the run


@dataclass
class Remote:
    """What a provider says about one request."""

    state: str  # QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED or NOT_FOUND
    external_id: str = ""
    queue_position: int | None = None
    progress: int | None = None  # percent, where the provider says
    logs: list = field(default_factory=list)  # the latest lines, newest last
    outputs: list = field(default_factory=list)  # URLs of the files, for fetch()
    files: list = field(default_factory=list)  # the files themselves (synchronous providers)
    error: str = ""
    reported_cost: Decimal | None = None  # what the provider says it billed, where it says
    meta: dict = field(default_factory=dict)  # what check/fetch/cancel need later (status URLs ...)


class Provider(ABC):
    """One model of one provider; get_provider() builds them from the catalog."""

    name = ""
    label = ""
    synchronous = False  # submit() answers with the files
    can_lookup = False  # lookup() can find a request whose submission got no answer
    webhooks = False  # the provider can call us back when PUBLIC_BASE_URL is set
    # Sending a request twice costs nothing (the local preview): a submission whose
    # worker died is simply run again instead of being left for a person.
    resubmit_safe = False

    # The setting holding the account's key, for a provider that needs one, and what to say when it is
    # empty (where a key is made, what to restart).
    key_setting = ""
    no_key = ""

    def __init__(self, model_id, spec):
        self.model_id = model_id
        self.spec = spec

    @property
    def key(self):
        return getattr(settings, self.key_setting) if self.key_setting else ""

    @property
    def missing_setting(self):
        """The setting this server lacks for the provider to take a request ("" when none): its models are
        offered disabled and refused by the New pipeline form, so nothing is planned that could only fail."""
        return self.key_setting if self.key_setting and not self.key else ""

    def require_key(self):
        """The key, or the ProviderError that says how to set it."""
        if self.missing_setting:
            raise ProviderError(self.no_key)
        return self.key

    @property
    def account(self):
        """Which account's limits a request counts against (a fingerprint of the key, never the key)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:12] if self.key else ""

    @property
    def limit(self):
        """Requests this account may have in flight at once (GENERATION_CONCURRENCY)."""
        return settings.GENERATION_CONCURRENCY.get(self.name, 1)

    @abstractmethod
    def submit(self, job) -> Remote:
        """Send the request; a Remote with the provider's id (or the files, when synchronous).
        A synchronous answer that was billed but whose file is refused is Remote(FAILED, error=...)."""

    def check(self, request) -> Remote:
        """The request's state now. `request` is its RemoteRequest row."""
        raise NotImplementedError

    def fetch(self, request, checkpoint=None) -> list:
        """The files of a completed request, downloaded, capped and decoded."""
        raise NotImplementedError

    def cancel(self, request):
        """Stop the request at the provider, as far as it allows; best effort."""

    def lookup(self, request) -> Remote | None:
        """Find a request whose submission got no answer; None when it can't be looked up."""
        return None

    def webhook(self, http_request) -> Remote:
        """The Remote a verified webhook call carries; WebhookRefused when it can't be trusted."""
        raise WebhookRefused(f"{self.label} sends no webhooks")

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


def synchronous_providers():
    """The names of the providers whose submit() answers with the files: a request of theirs that completed
    holds nothing to fetch later (the files came with the answer, or were dropped with it)."""
    return [name for name, path in PROVIDERS.items() if import_string(path).synchronous]


def get_provider(model_id):
    """The provider that runs `model_id`, ready to call."""
    spec = model_spec(model_id)
    path = PROVIDERS.get(spec.get("provider"))
    if path is None:
        raise ProviderError(
            f"Model {model_id!r} names provider {spec.get('provider')!r}, which doesn't exist "
            f"(the model catalog; providers: {', '.join(PROVIDERS)})."
        )
    return import_string(path)(model_id, spec)


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


def source_jpeg(source, max_side=2048, max_bytes=None, quality=92):
    """The source as JPEG bytes to send to a provider: upright, at most `max_side`
    pixels on its long side and, with `max_bytes`, made smaller until it fits (the
    models work at about a megapixel; some APIs take files inline only up to a size)."""
    image = source_image(source)
    while True:
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality)
        if max_bytes is None or buf.tell() <= max_bytes or max_side <= 256:
            return buf.getvalue()
        max_side = int(max(image.size) * 0.8)


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
