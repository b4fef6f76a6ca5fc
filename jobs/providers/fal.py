"""fal.ai's queue API as a provider: submit, poll the status, fetch the result, download.

    POST {FAL_QUEUE_URL}/{endpoint}                        -> {"request_id": ...}
    GET  {FAL_QUEUE_URL}/{app}/requests/{id}/status        -> IN_QUEUE | IN_PROGRESS | COMPLETED
    GET  {FAL_QUEUE_URL}/{app}/requests/{id}               -> the output: {"images": [{"url"}]} / {"video": {"url"}}
    PUT  {FAL_QUEUE_URL}/{app}/requests/{id}/cancel        (when we stop waiting)

`endpoint` is the model's full path (fal-ai/flux-pro/kontext) and `app` its
first two segments (fal-ai/flux-pro): fal addresses requests by app. The
source image travels inside the JSON as a data URI, so it needs no public URL.

Everything is the standard library's urllib: no HTTP dependency to add. Every
call has a timeout; 429 and 5xx are retried with exponential backoff (or
Retry-After); other 4xx fail at once with fal's own message. Outputs are
streamed with a size cap and decoded before they are accepted, like uploads.
"""

import base64
import email.utils
import http.client
import io
import json
import random
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from PIL import Image

from .base import (
    ASPECT_RATIOS,
    IMAGES_PER_PROMPT_MAX,
    QUALITIES,
    Provider,
    ProviderError,
    ProviderResult,
    estimate_cost,
    image_file,
    int_setting,
    number_setting,
    source_image,
    video_file,
)

NO_KEY = (
    "fal.ai is not configured: set the FAL_KEY environment variable to an API key from "
    "https://fal.ai/dashboard/keys and restart the web and worker processes, or choose a local preview model."
)
# The source is downscaled to this before it is sent: it rides inside the JSON,
# and the models work at about a megapixel anyway.
SOURCE_MAX_SIDE = 2048
SOURCE_JPEG_QUALITY = 92
CHUNK = 64 * 1024
CANCEL_TIMEOUT = 5
# Endpoint ids whose first segment is a namespace, so their app is three segments long.
NAMESPACES = {"workflows", "comfy"}
RETRYABLE_STATUSES = {408, 429}  # and every 5xx
USER_AGENT = "i2v (fal queue adapter)"

# How each hosted model's endpoint names its inputs. A model not listed gets
# the common shape: image_url, num_images, aspect_ratio, seed, negative_prompt.
MODEL_INPUTS = {
    "flux-kontext": {"aspect_ratio": True, "seed": True},
    "seedream-4": {"image_key": "image_urls", "seed": True},
    "gpt-image-1": {"image_key": "image_urls", "quality": {"draft": "low", "standard": "medium", "high": "high"}},
    "kling-2.1": {"durations": (5, 10), "duration_format": "{}", "negative_prompt": True},
    # Wan makes about five seconds (81 frames at 16 fps) and takes no duration.
    "wan-2.2": {"durations": (5,), "resolutions": ("480p", "580p", "720p"), "negative_prompt": True, "seed": True},
    "veo-3": {"durations": (8,), "duration_format": "{}s", "resolutions": ("720p", "1080p"), "negative_prompt": True},
}
COMMON_INPUTS = {"aspect_ratio": True, "seed": True, "negative_prompt": True}


def pause(seconds):
    # A module-level name, so the tests can watch the backoff without waiting it out.
    time.sleep(seconds)


class FalProvider(Provider):
    name = "fal"
    label = "fal.ai"

    def generate_images(self, source, prompt, settings, on_progress=None):
        self.require_kind("i2i")
        client = FalClient.from_settings()
        count = int_setting(settings, "images_per_prompt", 1, 1, IMAGES_PER_PROMPT_MAX)
        payload = image_input(self.inputs, data_uri(source), prompt, settings, count)
        output, request_id = client.run(self.endpoint, payload, on_progress)
        urls = output_urls(output, "images", "image")[:count]
        if not urls:
            raise ProviderError(f"fal returned no images for request {request_id} (a safety filter may have dropped them).")
        files = [image_file(client.download(url), origin="An image from fal") for url in urls]
        return ProviderResult(files, estimate_cost(self.model_id, images=len(files)), self.metadata(request_id, output))

    def generate_video(self, image, prompt, settings, on_progress=None):
        self.require_kind("i2v")
        client = FalClient.from_settings()
        seconds = billed_seconds(self.inputs, settings)
        payload = video_input(self.inputs, data_uri(image), prompt, settings, seconds)
        output, request_id = client.run(self.endpoint, payload, on_progress)
        urls = output_urls(output, "video", "videos")
        if not urls:
            raise ProviderError(f"fal returned no video for request {request_id}.")
        file = video_file(client.download(urls[0]), origin="The video from fal")
        metadata = {**self.metadata(request_id, output), "billed_seconds": seconds}
        return ProviderResult([file], estimate_cost(self.model_id, video_seconds=seconds), metadata)

    @property
    def endpoint(self):
        path = self.spec.get("fal_path") or settings.FAL_MODEL_PATHS.get(self.model_id)
        if not path:
            raise ProviderError(f"No fal endpoint is configured for {self.model_id!r}: add it to settings.FAL_MODEL_PATHS.")
        return path.strip("/")

    @property
    def inputs(self):
        return MODEL_INPUTS.get(self.model_id, COMMON_INPUTS)

    def metadata(self, request_id, output):
        meta = {"provider": self.name, "model": self.model_id, "endpoint": self.endpoint, "request_id": request_id}
        if isinstance(output, dict) and "seed" in output:
            meta["seed"] = output["seed"]
        return meta


# --- Inputs ---------------------------------------------------------------------------------


def data_uri(source):
    """The source as a JPEG data URI, upright and at most SOURCE_MAX_SIDE on its long side."""
    image = source_image(source)
    if max(image.size) > SOURCE_MAX_SIDE:
        image = image.copy()
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=SOURCE_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_input(shape, image_url, prompt, options, count):
    body = {"prompt": prompt, "num_images": count}
    _add_image(body, shape, image_url)
    ratio = options.get("aspect_ratio")
    if shape.get("aspect_ratio") and ratio in ASPECT_RATIOS:
        body["aspect_ratio"] = ratio
    quality = options.get("quality")
    if shape.get("quality") and quality in QUALITIES:
        body["quality"] = shape["quality"][quality]
    return _add_common(body, shape, options)


def video_input(shape, image_url, prompt, options, seconds):
    body = {"prompt": prompt}
    _add_image(body, shape, image_url)
    if shape.get("duration_format"):
        body["duration"] = shape["duration_format"].format(seconds)
    resolution = options.get("resolution")
    if resolution in shape.get("resolutions", ()):
        body["resolution"] = resolution
    return _add_common(body, shape, options)


def _add_image(body, shape, image_url):
    key = shape.get("image_key", "image_url")
    body[key] = [image_url] if key.endswith("s") else image_url


def _add_common(body, shape, options):
    if shape.get("negative_prompt") and options.get("negative_prompt"):
        body["negative_prompt"] = options["negative_prompt"]
    if shape.get("seed") and options.get("seed") not in (None, ""):
        body["seed"] = int_setting(options, "seed", 0, 0, 2**32 - 1)
    return body


def billed_seconds(shape, options):
    """The clip length this model will be asked for, and charges: the allowed length nearest the request."""
    allowed = shape.get("durations", (5,))
    requested = number_setting(options, "duration", allowed[0])
    return min(allowed, key=lambda s: (abs(s - requested), s))


def output_urls(output, many, one):
    """URLs of the files in a result, wherever this endpoint put them."""
    if not isinstance(output, dict):
        return []
    items = output.get(many)
    if items is None:
        items = output.get(one)
    if not isinstance(items, list):
        items = [items] if items else []
    urls = [item.get("url") if isinstance(item, dict) else item for item in items]
    return [url for url in urls if isinstance(url, str) and url]


# --- HTTP -----------------------------------------------------------------------------------


class Transient(Exception):
    """A failure that may pass: retried by FalClient.retrying(), then a retryable ProviderError."""

    def __init__(self, message, retry_after=None, answered=True):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        # False when we can't tell whether the server got the request (a timeout,
        # a reset): a submission is then not repeated, as it might run twice.
        self.answered = answered


class FalClient:
    def __init__(self, key, base_url, timeout, deadline, poll, attempts, backoff, backoff_max, max_bytes):
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.deadline_seconds = deadline
        self.poll = poll
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_bytes = max_bytes
        self.opener = urllib.request.build_opener()
        self.deadline = self.new_deadline()

    @classmethod
    def from_settings(cls):
        if not settings.FAL_KEY:
            raise ProviderError(NO_KEY)
        return cls(
            key=settings.FAL_KEY,
            base_url=settings.FAL_QUEUE_URL,
            timeout=settings.FAL_TIMEOUT_SECONDS,
            deadline=settings.FAL_DEADLINE_SECONDS,
            poll=settings.FAL_POLL_SECONDS,
            attempts=settings.FAL_MAX_ATTEMPTS,
            backoff=settings.FAL_BACKOFF_SECONDS,
            backoff_max=settings.FAL_BACKOFF_MAX_SECONDS,
            max_bytes=settings.GENERATION_DOWNLOAD_MAX_BYTES,
        )

    def run(self, endpoint, payload, on_progress=None):
        """(output, request_id): submit, wait for completion and fetch the result.

        Whatever interrupts the wait (the deadline, an error, the caller's
        on_progress raising to cancel) cancels the request at fal, so nothing
        goes on running, and being charged, for an answer nobody will read.
        """
        self.deadline = self.new_deadline()
        app = app_id(endpoint)
        request_id = self.submit(endpoint, payload)
        try:
            self.wait(app, request_id, on_progress)
        except BaseException:
            self.cancel(app, request_id)
            raise
        return self.call("GET", self.request_url(app, request_id)), request_id

    def new_deadline(self):
        return time.monotonic() + self.deadline_seconds

    def submit(self, endpoint, payload):
        reply = self.call("POST", f"{self.base_url}/{endpoint}", payload)
        request_id = reply.get("request_id") if isinstance(reply, dict) else None
        if not request_id:
            raise ProviderError("fal accepted the request but sent no request_id back.", retryable=True)
        return str(request_id)

    def wait(self, app, request_id, on_progress):
        url = self.request_url(app, request_id) + "/status"
        while True:
            status = self.call("GET", url)
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETED":
                return self._check_completed(status, request_id)
            if state not in ("IN_QUEUE", "IN_PROGRESS"):
                raise ProviderError(f"fal request {request_id} ended as {state or 'unknown'}: {api_message(status)}")
            if on_progress:
                on_progress(_describe(status))
            if time.monotonic() + self.poll > self.deadline:
                raise ProviderError(
                    f"fal request {request_id} did not finish within {self.deadline_seconds} s "
                    "(FAL_DEADLINE_SECONDS); it was cancelled.",
                    retryable=True,
                )
            pause(self.poll)

    def _check_completed(self, status, request_id):
        # A request that failed on fal's side is COMPLETED too, with an error.
        if status.get("error"):
            raise ProviderError(f"fal request {request_id} failed: {status['error']}")

    def cancel(self, app, request_id):
        request = self._request("PUT", self.request_url(app, request_id) + "/cancel", None)
        try:
            self.opener.open(request, timeout=min(self.timeout, CANCEL_TIMEOUT)).close()
        except (OSError, ValueError, http.client.HTTPException):
            pass  # best effort: fal stops it at its own timeout anyway

    def request_url(self, app, request_id):
        return f"{self.base_url}/{app}/requests/{request_id}"

    def call(self, method, url, body=None):
        """The JSON answer to one API call, retried on 429 and 5xx."""
        return self.retrying(lambda: self._json(method, url, body), repeatable=method != "POST", deadline=self.deadline)

    def download(self, url):
        """The bytes of an output file, at most max_bytes, retried like the API calls.

        It gets a deadline of its own: a request that completed just before the
        generation's deadline must still be able to fetch what was paid for.
        """
        if urlsplit(url).scheme not in ("https", "http", "data"):
            raise ProviderError(f"fal returned an output address we won't fetch: {url[:100]}")
        deadline = self.new_deadline()
        return self.retrying(lambda: self._fetch(url, deadline), repeatable=True, deadline=deadline)

    def retrying(self, attempt_once, repeatable, deadline):
        """attempt_once() until it works, backing off between tries.

        A POST is repeated only when the server answered (429, 5xx): after a
        timeout it may have queued the first one, and a second would be paid twice.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return attempt_once()
            except Transient as problem:
                wait = self.wait_before_retry(attempt, problem.retry_after)
                last = attempt == self.attempts or time.monotonic() + wait > deadline
                if last or not (repeatable or problem.answered):
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise ProviderError(problem.message + tries, retryable=True) from None
                pause(wait)

    def wait_before_retry(self, attempt, retry_after):
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        wait = min(self.backoff * 2 ** (attempt - 1), self.backoff_max)
        # Up to a quarter more, at random, so workers throttled together don't return together.
        return wait * (1 + random.random() / 4)

    def _json(self, method, url, body):
        # No deadline inside the read: answers are small, and wait() keeps the generation's deadline.
        data = self._open(self._request(method, url, body), url, deadline=None)
        try:
            return json.loads(data)
        except ValueError:
            # Not "answered": a garbled reply to a submission may still have queued it.
            raise Transient(f"fal sent an answer that is not JSON to {method} {_path(url)}.", answered=False) from None

    def _fetch(self, url, deadline):
        # No API key: outputs are on fal's CDN, and the key must not go to another host.
        return self._open(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), url, deadline)

    def _request(self, method, url, body):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": USER_AGENT})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Unredirected: urllib drops it on a redirect, so the key never follows one to another host.
        request.add_unredirected_header("Authorization", f"Key {self.key}")
        return request

    def _open(self, request, url, deadline):
        """The body of a response, read with the size cap; HTTP and network errors sorted out."""
        what = f"{request.get_method()} {_path(url)}"
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return read_capped(response, self.max_bytes, deadline)
        except urllib.error.HTTPError as error:
            raise http_problem(error, what) from None
        except TimeoutError:
            raise Transient(f"fal timed out after {self.timeout} s ({what}).", answered=False) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise Transient(f"fal timed out after {self.timeout} s ({what}).", answered=False) from None
            raise Transient(f"Could not reach fal ({what}): {error.reason}.", answered=False) from None
        except (OSError, http.client.HTTPException) as error:
            raise Transient(f"The connection to fal broke ({what}): {error}.", answered=False) from None


def read_capped(response, max_bytes, deadline):
    """The whole body, or a ProviderError as soon as it passes max_bytes; nothing is kept."""
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise _too_big(int(length), max_bytes)
    chunks, total = [], 0
    while chunk := response.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise _too_big(None, max_bytes)
        if deadline is not None and time.monotonic() > deadline:
            raise Transient("fal's download was too slow to finish before the deadline (FAL_DEADLINE_SECONDS).")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big(size, max_bytes):
    limit = f"{max_bytes / 1e6:.1f} MB" if max_bytes >= 1e5 else f"{max_bytes:,} bytes"
    what = f"is {size / 1e6:.1f} MB" if size and max_bytes >= 1e5 else "is bigger"
    return ProviderError(f"A file from fal {what}, over the download limit of {limit} (GENERATION_DOWNLOAD_MAX_BYTES).")


def http_problem(error, what):
    """The exception for an HTTP error answer: Transient for 408/429/5xx, else a final ProviderError."""
    status = error.code
    try:
        body = error.read(64 * 1024)
    except OSError:
        body = b""
    finally:
        error.close()
    detail = api_message(_parse(body)) or error.reason or "no details"
    if status in RETRYABLE_STATUSES or status >= 500:
        return Transient(f"fal answered HTTP {status} to {what}: {detail}", retry_after=retry_after(error.headers))
    if status in (401, 403):
        return ProviderError(f"fal refused the API key (HTTP {status}: {detail}). Check FAL_KEY.")
    return ProviderError(f"fal rejected the request (HTTP {status}): {detail}")


def api_message(reply):
    """fal's error text from a JSON reply: {"detail": "..."}, FastAPI's [{"loc", "msg"}], or {"error": ...}."""
    if not isinstance(reply, dict):
        return ""
    detail = reply.get("detail") or reply.get("error") or reply.get("message")
    if isinstance(detail, list):
        return "; ".join(_field_error(item) for item in detail)
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("msg") or detail)
    return str(detail or "")


def _field_error(item):
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


def _parse(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def retry_after(headers):
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def app_id(endpoint):
    """fal-ai/flux-pro/kontext -> fal-ai/flux-pro: requests live under the app, not the full path."""
    parts = endpoint.split("/")
    size = 3 if parts[0] in NAMESPACES else 2
    return "/".join(parts[:size])


def _describe(status):
    position = status.get("queue_position")
    if status.get("status") == "IN_QUEUE" and position is not None:
        return f"queued at fal, position {position}"
    return "running at fal" if status.get("status") == "IN_PROGRESS" else "queued at fal"


def _path(url):
    parts = urlsplit(url)
    return parts.path if parts.scheme != "data" else "data: URI"
