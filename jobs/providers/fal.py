"""fal.ai's queue API as a provider: submit, and later check, fetch or cancel.

    POST {FAL_QUEUE_URL}/{endpoint}[?fal_webhook=...]  -> {"request_id", "status_url", "response_url", "cancel_url"}
    GET  status_url?logs=1    -> {"status": IN_QUEUE | IN_PROGRESS | COMPLETED, "queue_position", "logs"}
    GET  response_url         -> the output: {"images": [{"url"}]} / {"video": {"url"}}
    PUT  cancel_url
    webhook POST              -> {"request_id", "status": "OK" | "ERROR", "payload", "error"}, signed with
                                 ED25519 keys published at FAL_JWKS_URL

The source image travels inside the JSON as a data URI, so it needs no public URL.

Written on httpx rather than the official fal-client: fal-client builds its
URLs from https:// and host names read from the environment at import time, so
it can't be pointed at a local fake server to be tested, and it retries failed
calls by itself, submissions included, after timeouts: a submission whose
answer was lost would be sent again, and paid twice. Here every call is one
try (jobs/providers/http.py) and the work queue decides what happens next.

fal has no way to find a request by an id of ours, so a submission whose answer
was lost can only be resolved by its webhook (when PUBLIC_BASE_URL is set, the
webhook URL carries our token); otherwise its owner is asked.
"""

import base64
import hashlib
import io
import logging
import re
import threading
import time
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from PIL import Image

from i2v.lib.jsonbody import loads

from . import http
from .base import (
    ASPECT_RATIOS,
    CANCELLED,
    COMPLETED,
    FAILED,
    QUALITIES,
    QUEUED,
    RUNNING,
    Provider,
    ProviderError,
    Remote,
    WebhookRefused,
    image_file,
    int_setting,
    source_image,
    video_file,
)

WHO = "fal"
logger = logging.getLogger(__name__)

NO_KEY = (
    "fal.ai is not configured: set the FAL_KEY environment variable to an API key from "
    "https://fal.ai/dashboard/keys and restart the web and worker processes, or choose another model."
)
# The source is downscaled to this before it is sent: it rides inside the JSON,
# and the models work at about a megapixel anyway.
SOURCE_MAX_SIDE = 2048
SOURCE_JPEG_QUALITY = 92
WEBHOOK_MAX_AGE = 300  # seconds either way, as fal's verification guide asks
JWKS_TTL = 24 * 3600
JWKS_RETRY = 30  # seconds after a failed fetch of the keys before the next is tried
KEYS_UNAVAILABLE = "fal's public keys could not be fetched, so the signature can't be checked; the request is polled instead."
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
COMMON_INPUTS = {"aspect_ratio": True, "seed": True, "negative_prompt": True}


class FalProvider(Provider):
    name = "fal"
    label = "fal.ai"
    webhooks = True
    key_setting = "FAL_KEY"
    no_key = NO_KEY

    @property
    def endpoint(self):
        return self.spec.get("endpoint") or self.model_id

    def _client(self):
        return http.client(Authorization=f"Key {self.require_key()}")

    def submit(self, job):
        self.require_kind(job.kind)
        payload = self.payload(job)
        url = f"{settings.FAL_QUEUE_URL}/{self.endpoint}"
        if job.webhook_url:
            url += "?" + urlencode({"fal_webhook": job.webhook_url})
        with self._client() as client:
            reply = http.call(client, WHO, "POST", url, json=payload, submission=True)
        request_id = reply.get("request_id") if isinstance(reply, dict) else None
        if not request_id:
            raise ProviderError("fal accepted the request but sent no request_id back.")
        urls = {key: reply[key] for key in ("status_url", "response_url", "cancel_url") if isinstance(reply.get(key), str)}
        return Remote(QUEUED, external_id=str(request_id), queue_position=reply.get("queue_position"), meta=urls)

    def payload(self, job):
        """The endpoint's input: prompt, source, and the settings this model takes."""
        shape = self.spec.get("params", {})
        body = {"prompt": job.prompt}
        key = shape.get("image_key", "image_url")
        source = data_uri(job.source())
        body[key] = [source] if key.endswith("s") else source
        options = job.options
        if job.kind == "i2i":
            body["num_images"] = 1
            if shape.get("aspect_ratio") and options.get("aspect_ratio") in ASPECT_RATIOS:
                body["aspect_ratio"] = options["aspect_ratio"]
            if shape.get("quality") and options.get("quality") in QUALITIES:
                body["quality"] = shape["quality"][options["quality"]]
        else:
            from jobs.catalog import effective

            used = effective(self.model_id, options)
            fmt = shape.get("duration_format")
            if fmt == "int":
                body["duration"] = used["duration"]
            elif fmt:
                body["duration"] = fmt.format(used["duration"])
            if shape.get("resolution") and used["resolution"]:
                body["resolution"] = used["resolution"]
        if shape.get("negative_prompt") and options.get("negative_prompt"):
            body["negative_prompt"] = options["negative_prompt"]
        if shape.get("seed") and options.get("seed") not in (None, ""):
            body["seed"] = int_setting(options, "seed", 0, 0, 2**32 - 1)
        return body

    def _urls(self, request):
        """status, response and cancel URLs: as fal gave them, or built from the app and the id."""
        base = f"{settings.FAL_QUEUE_URL}/{app_id(self.endpoint)}/requests/{request.external_id}"
        meta = request.meta or {}
        return (
            meta.get("status_url") or f"{base}/status",
            meta.get("response_url") or base,
            meta.get("cancel_url") or f"{base}/cancel",
        )

    def check(self, request):
        status_url, response_url, _ = self._urls(request)
        with self._client() as client:
            status = http.call(client, WHO, "GET", status_url, params={"logs": 1})
            if not isinstance(status, dict):
                raise ProviderError("fal sent a status that is not an object.", retryable=True)
            state = status.get("status")
            logs = [entry.get("message", "") for entry in status.get("logs") or [] if isinstance(entry, dict)][-5:]
            if state == "IN_QUEUE":
                return Remote(QUEUED, request.external_id, queue_position=status.get("queue_position"), logs=logs)
            if state == "IN_PROGRESS":
                return Remote(RUNNING, request.external_id, progress=percent(logs), logs=logs)
            if state != "COMPLETED":
                raise ProviderError(f"fal said the request is {state or 'in an unknown state'}.", retryable=True)
            if status.get("error"):
                # A request that failed on fal's side is COMPLETED too, with an error.
                return Remote(FAILED, request.external_id, logs=logs, error=f"fal: {status['error']}")
            try:
                output = http.call(client, WHO, "GET", response_url)
            except ProviderError as error:
                if error.retryable:
                    raise
                return Remote(FAILED, request.external_id, logs=logs, error=error.message)
        return self._finished(request.external_id, output, logs)

    def _finished(self, external_id, output, logs=()):
        urls = output_urls(output)
        if not urls:
            return Remote(FAILED, external_id, logs=list(logs), error="fal returned no file (a safety filter may have dropped it).")
        return Remote(COMPLETED, external_id, progress=100, logs=list(logs), outputs=urls[:1])

    def fetch(self, request, checkpoint=None):
        files = []
        with self._client() as client:
            for url in request.result or []:
                data = http.download(client, WHO, url, checkpoint)
                origin = "A file from fal"
                files.append(image_file(data, origin) if self.spec["kind"] == "i2i" else video_file(data, origin))
        return files

    def cancel(self, request):
        if not request.external_id:
            return
        _, _, cancel_url = self._urls(request)
        try:
            with self._client() as client:
                http.call(client, WHO, "PUT", cancel_url)
        except ProviderError:
            pass  # best effort: a request that already finished can't be cancelled, and fal says so

    def webhook(self, http_request):
        verify_webhook(http_request)
        body = http.parse_json(http_request.body)
        if not isinstance(body, dict) or not body.get("request_id"):
            raise WebhookRefused("The webhook body is not a fal result.")
        external_id = str(body["request_id"])
        if body.get("status") == "OK":
            return self._finished(external_id, body.get("payload"))
        if body.get("status") == "CANCELLED":
            return Remote(CANCELLED, external_id)
        error = body.get("error") or http.api_message(body.get("payload")) or "fal reported an error."
        return Remote(FAILED, external_id, error=f"fal: {error}"[:500])


def data_uri(source):
    image = source_image(source)
    if max(image.size) > SOURCE_MAX_SIDE:
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=SOURCE_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def output_urls(output):
    """URLs of the files in a result, wherever this endpoint put them."""
    if not isinstance(output, dict):
        return []
    items = output.get("images") or output.get("video") or output.get("image") or output.get("videos")
    if not isinstance(items, list):
        items = [items] if items else []
    urls = [item.get("url") if isinstance(item, dict) else item for item in items]
    return [url for url in urls if isinstance(url, str) and url]


def percent(logs):
    """A progress percentage from the newest log line that has one ("Sampling: 45%")."""
    for line in reversed(logs):
        match = PERCENT.search(line or "")
        if match:
            return max(0, min(100, round(float(match.group(1)))))
    return None


def app_id(endpoint):
    """fal-ai/flux-pro/kontext -> fal-ai/flux-pro: requests live under the app, not the full path."""
    parts = endpoint.split("/")
    size = 3 if parts[0] in ("workflows", "comfy") else 2
    return "/".join(parts[:size])


# --- Webhook signatures ------------------------------------------------------------------------

_jwks = {"keys": None, "at": 0.0, "failed_at": -JWKS_RETRY}
_jwks_lock = threading.Lock()


def verify_webhook(http_request):
    """Check a webhook call the way fal documents it: the ED25519 signature over
    request id, user id, timestamp and the body's SHA-256, by one of fal's keys,
    with a timestamp close to now."""
    headers = http_request.headers
    request_id = headers.get("X-Fal-Webhook-Request-Id", "")
    user_id = headers.get("X-Fal-Webhook-User-Id", "")
    timestamp = headers.get("X-Fal-Webhook-Timestamp", "")
    signature = headers.get("X-Fal-Webhook-Signature", "")
    if not (request_id and user_id and timestamp and signature):
        raise WebhookRefused("The webhook has no fal signature headers.")
    try:
        if abs(time.time() - int(timestamp)) > WEBHOOK_MAX_AGE:
            raise WebhookRefused("The webhook's timestamp is too far from now (a replay?).")
        signed = bytes.fromhex(signature)
    except ValueError:
        raise WebhookRefused("The webhook's timestamp or signature is malformed.") from None
    message = "\n".join([request_id, user_id, timestamp, hashlib.sha256(http_request.body).hexdigest()]).encode()
    for key in _public_keys():
        try:
            key.verify(signed, message)
            return
        except InvalidSignature:
            continue
    raise WebhookRefused("The webhook's signature matches none of fal's keys.")


def _public_keys(refresh=False):
    """fal's keys, fetched once a JWKS_TTL. A fetch that failed is not tried again for JWKS_RETRY seconds:
    each webhook meanwhile is refused at once, not held for the fetch's timeout behind the lock (the
    poller finds its request all the same). Why it failed goes to the log, not to the caller."""
    with _jwks_lock:
        now = time.monotonic()
        if now - _jwks["failed_at"] < JWKS_RETRY:
            raise WebhookRefused(KEYS_UNAVAILABLE)
        if refresh or _jwks["keys"] is None or now - _jwks["at"] > JWKS_TTL:
            try:
                response = httpx.get(settings.FAL_JWKS_URL, timeout=10)
                response.raise_for_status()
                keys = _ed25519_keys(loads(response.content))
            except (httpx.HTTPError, ValueError, AttributeError, TypeError) as exc:
                logger.warning("fal's public keys could not be fetched from %s: %s", settings.FAL_JWKS_URL, exc)
                _jwks["failed_at"] = time.monotonic()
                raise WebhookRefused(KEYS_UNAVAILABLE) from None
            _jwks["keys"], _jwks["at"] = keys, time.monotonic()
        return list(_jwks["keys"])


def _ed25519_keys(jwks):
    """The Ed25519 public keys of a JWKS document; a key that can't be read is a ValueError (base64, length)."""
    return [
        Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4)))
        for k in jwks.get("keys", [])
        if isinstance(k, dict) and k.get("kty") == "OKP" and k.get("crv") == "Ed25519" and k.get("x")
    ]


def forget_keys():
    """Tests: the next webhook fetches the keys again."""
    _jwks["keys"], _jwks["failed_at"] = None, -JWKS_RETRY
