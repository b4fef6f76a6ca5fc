"""Replicate as a provider: one prediction per request, through the official `replicate` client.

    POST {REPLICATE_BASE_URL}/models/{owner}/{name}/predictions  {"input", "webhook", "webhook_events_filter"}
    GET  /predictions/{id}     -> {"status": starting | processing | succeeded | failed | canceled,
                                   "logs", "output": a URL or a list of URLs, "error", "metrics": {"predict_time"}}
    POST /predictions/{id}/cancel
    GET  /predictions?created_after=&created_before=   (newest first, 100 a page: the lookup below)
    webhook POST               -> the prediction, signed: webhook-id, webhook-timestamp and webhook-signature
                                  ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed with the "whsec_" secret)

The source rides in the input as a data URI (Replicate advises them under 1 MB; it is shrunk to fit), so it
needs no public URL. What each model is sent is the catalog's `params` (jobs/catalog.toml): the name of its
image input, and which of our settings it takes under which of its names. Progress is read from the model's
logs (tqdm lines) by the client's own Prediction.progress; `metrics.predict_time` is kept in the logs.
Replicate reports no price: the cost recorded is the catalog's.

The client, with one change. It sends no POST twice (a submission or a cancel is one try), but it wraps every
httpx client it builds in a RetryTransport that retries GET, PUT and DELETE up to ten times on 429, 503 and
504, sleeping as long as Retry-After says: a poll would hold one of the poller's threads for minutes, well
past the time the poller claims a request for, and the library has no option to turn that off. So `Client`
below hands the library an httpx client of ours (in `_request`, which every call of the library goes through): one try
per call, within GENERATION_HTTP_TIMEOUT_SECONDS (the library asks for no time limit on a submission),
answers of 300 and up sorted by jobs/providers/http.py (a 429 keeps its Retry-After, which the library's
ReplicateError drops), and the work queue and the poller decide what happens next.

A submission whose answer was lost is looked up (can_lookup): Replicate lists an account's predictions by
creation time, but a prediction carries no webhook URL nor any field of ours, so ours is recognised by what
it was sent: the same model and the same inputs (the source aside), created within minutes of the attempt,
and not already another request's. Two lost submissions with the same inputs are interchangeable (either
result is right for either); should both be looked up in the same tick they may take the same prediction,
and the other one's result is then not collected. Replicate removes inputs an hour after a prediction, well
after GENERATION_UNKNOWN_WAIT_SECONDS; with PUBLIC_BASE_URL set the webhook (which carries our token) finds
it too.
"""

import base64
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import replicate
from django.conf import settings
from replicate.prediction import Prediction
from replicate.webhook import InvalidTimestampError, MissingWebhookHeaderError, Webhooks, WebhookSigningSecret

from i2v.lib.jsonbody import loads

from . import http
from .base import (
    ASPECT_RATIOS,
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    OutcomeUnknown,
    Provider,
    ProviderError,
    Remote,
    WebhookRefused,
    image_file,
    int_setting,
    source_jpeg,
    video_file,
)

WHO = "Replicate"
NO_KEY = (
    "Replicate is not configured: set the REPLICATE_API_TOKEN environment variable to a token from "
    "https://replicate.com/account/api-tokens and restart the web and worker processes, or choose another model."
)
# Replicate advises data URIs under 1 MB; base64 adds a third.
SOURCE_MAX_BYTES = 750 * 1024
STATES = {"starting": QUEUED, "processing": RUNNING, "succeeded": COMPLETED, "failed": FAILED, "canceled": CANCELLED}
WEBHOOK_MAX_AGE = 300  # seconds either way: an older signed call is a replay
LOOKUP_WINDOW = timedelta(minutes=5)  # either side of the attempt: clocks differ, answers are slow
LOOKUP_PAGES = 5  # of 100 predictions each, newest first
LOG_LINES = 5


class Client(replicate.Client):
    """replicate.Client making each call once, on an httpx client of ours (see the module's docstring)."""

    def __init__(self, token):
        # The library's paths start with /v1; REPLICATE_BASE_URL names the API's root with it.
        base = settings.REPLICATE_BASE_URL.removesuffix("/v1")
        super().__init__(api_token=token, base_url=base)
        self._http = http.client(Authorization=f"Bearer {token}")
        self._http.base_url = base

    def _request(self, method, path, **kwargs):
        # Every call of the library comes through here. It asks for no time limit at all on a
        # submission (timeout=None): ours, GENERATION_HTTP_TIMEOUT_SECONDS, applies to every call.
        kwargs.pop("timeout", None)
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 300:
            http.answer(response, WHO, f"{method} {urlsplit(str(response.request.url)).path}")
        return response

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._http.close()


@contextmanager
def _failures(what, submission=False):
    """A failed call as the error that says what may be done next (jobs/providers/http.py)."""
    with http.failures(WHO, what, submission):
        try:
            yield
        except (ValueError, TypeError):
            # A 2xx answer that is not a prediction (json's and pydantic's errors are ValueErrors).
            if submission:
                raise OutcomeUnknown(
                    f"{WHO} accepted the submission with an answer that is not a prediction; it may have started it."
                ) from None
            raise ProviderError(f"{WHO} sent an answer to {what} that is not a prediction.", retryable=True) from None


class ReplicateProvider(Provider):
    name = "replicate"
    label = "Replicate"
    webhooks = True
    can_lookup = True
    key_setting = "REPLICATE_API_TOKEN"
    no_key = NO_KEY

    @property
    def endpoint(self):
        return self.spec.get("endpoint") or self.model_id

    def _client(self):
        return Client(self.require_key())

    def submit(self, job):
        self.require_kind(job.kind)
        body = self.payload(job)
        hooks = {"webhook": job.webhook_url, "webhook_events_filter": ["completed"]} if job.webhook_url else {}
        with self._client() as client, _failures(f"POST /models/{self.endpoint}/predictions", submission=True):
            prediction = client.models.predictions.create(model=self.endpoint, input=body, **hooks)
        return self._remote(prediction)

    def payload(self, job):
        """The model's input: the source under the model's own name for it, and inputs()."""
        shape = self.spec.get("params", {})
        jpeg = source_jpeg(job.source(), max_bytes=SOURCE_MAX_BYTES)
        source = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        body = self.inputs(job.prompt, job.options)
        body[shape.get("image_key", "image")] = [source] if shape.get("image_list") else source
        return body

    def inputs(self, prompt, options):
        """Everything the model is sent but the source: the prompt and the settings it takes,
        under its names (the catalog's `params`), with the values we bill (catalog.effective)."""
        from jobs.catalog import effective

        shape = self.spec.get("params", {})
        used = effective(self.model_id, options)
        body = {"prompt": prompt, **shape.get("fixed", {})}
        if shape.get("aspect_ratio"):
            # The value that means "as the source" is the model's own ("match_input_image").
            ratio = options.get("aspect_ratio")
            body["aspect_ratio"] = ratio if ratio in ASPECT_RATIOS else shape["aspect_ratio"]
        for key, tiers in shape.get("by_quality", {}).items():
            body[key] = tiers[used["quality"]]
        for key, tiers in shape.get("by_resolution", {}).items():
            body[key] = tiers[used["resolution"]]
        if shape.get("resolution"):
            body["resolution"] = used["resolution"]
        if shape.get("duration"):
            body["duration"] = used["duration"]
        if shape.get("negative_prompt") and options.get("negative_prompt"):
            body["negative_prompt"] = options["negative_prompt"]
        if shape.get("seed") and options.get("seed") not in (None, ""):
            body["seed"] = int_setting(options, "seed", 0, 0, 2**31 - 1)
        return body

    def check(self, request):
        with self._client() as client, _failures(f"GET /predictions/{request.external_id}"):
            prediction = client.predictions.get(request.external_id)
        return self._remote(prediction)

    def _remote(self, prediction):
        state = STATES.get(prediction.status)
        if state is None:
            raise ProviderError(f"{WHO} said the prediction is {prediction.status!r}.", retryable=True)
        logs = [line for line in (prediction.logs or "").splitlines() if line.strip()][-LOG_LINES:]
        if state == RUNNING:
            progress = prediction.progress  # the newest tqdm line of the logs, parsed by the client
            return Remote(RUNNING, prediction.id, progress=round(progress.percentage * 100) if progress else None, logs=logs)
        if state == COMPLETED:
            seconds = (prediction.metrics or {}).get("predict_time")
            if isinstance(seconds, (int, float)):
                logs = [*logs, f"Predict time {seconds:.1f} s"][-LOG_LINES:]
            urls = output_urls(prediction.output)
            if not urls:
                error = f"{WHO} returned no file (a safety filter may have dropped it)."
                return Remote(FAILED, prediction.id, logs=logs, error=error)
            return Remote(COMPLETED, prediction.id, progress=100, logs=logs, outputs=urls[:1])
        if state == FAILED:
            return Remote(FAILED, prediction.id, logs=logs, error=f"{WHO}: {prediction.error or 'the prediction failed.'}"[:500])
        return Remote(state, prediction.id, logs=logs)

    def fetch(self, request, checkpoint=None):
        files = []
        # Output files are on Replicate's file host: the API token is never sent there.
        with http.client() as client:
            for url in request.result or []:
                data = http.download(client, WHO, url, checkpoint)
                origin = f"A file from {WHO}"
                files.append(image_file(data, origin) if self.spec["kind"] == "i2i" else video_file(data, origin))
        return files

    def cancel(self, request):
        if not request.external_id:
            return
        try:
            with self._client() as client, _failures(f"POST /predictions/{request.external_id}/cancel"):
                client.predictions.cancel(request.external_id)
        except ProviderError:
            pass  # best effort: a finished prediction can't be cancelled, and Replicate says so

    def lookup(self, request):
        """The prediction a lost submission made, found by its model and inputs (see the module's docstring)."""
        from jobs.remote import RemoteRequest

        sent = request.submitted_at or request.created_at
        window = {
            "created_after": (request.created_at - LOOKUP_WINDOW).isoformat(),
            "created_before": (sent + LOOKUP_WINDOW).isoformat(),
        }
        wanted = self.inputs(request.settings.get("prompt", ""), request.settings)
        found = []
        with self._client() as client, _failures("GET /predictions"):
            cursor = "/v1/predictions?" + urlencode(window)  # the library takes the first page's path as its cursor
            for _ in range(LOOKUP_PAGES):
                page = client.predictions.list(cursor)
                found += [p for p in page if p.model == self.endpoint and same_inputs(p.input, wanted)]
                if not page.next:
                    break
                cursor = page.next
        if not found:
            return None
        taken = set(
            RemoteRequest.objects.filter(provider=self.name, external_id__in=[p.id for p in found])
            .exclude(pk=request.pk)
            .values_list("external_id", flat=True)
        )
        free = sorted((p for p in found if p.id not in taken), key=lambda p: p.created_at or "")
        return self._remote(free[0]) if free else None

    def webhook(self, http_request):
        verify_webhook(http_request)
        try:
            prediction = Prediction(**loads(http_request.body))
        except (ValueError, TypeError):
            raise WebhookRefused("The webhook body is not a Replicate prediction.") from None
        try:
            return self._remote(prediction)
        except ProviderError as error:
            raise WebhookRefused(error.message) from None


def output_urls(output):
    """URLs of the files in a prediction's output: one URL, or a list of them."""
    items = output if isinstance(output, list) else [output]
    return [item for item in items if isinstance(item, str) and urlsplit(item).scheme in ("https", "http")]


def same_inputs(given, wanted):
    """Whether a listed prediction was sent `wanted` (numbers may come back as text or floats)."""
    if not isinstance(given, dict):
        return False
    return all(given.get(key) == value or str(given.get(key)) == str(value) for key, value in wanted.items())


def verify_webhook(http_request):
    """Check a webhook call as Replicate documents it, with the client's own verifier:
    the HMAC of id, timestamp and body under REPLICATE_WEBHOOK_SECRET, and a recent timestamp."""
    secret = settings.REPLICATE_WEBHOOK_SECRET
    if not secret:
        raise WebhookRefused("REPLICATE_WEBHOOK_SECRET is not set, so Replicate's webhooks can't be verified.")
    try:
        Webhooks.validate(
            headers=dict(http_request.headers), body=http_request.body.decode("utf-8"),
            secret=WebhookSigningSecret(key=secret), tolerance=WEBHOOK_MAX_AGE,
        )  # fmt: skip
    except MissingWebhookHeaderError:
        raise WebhookRefused("The webhook has no Replicate signature headers.") from None
    except InvalidTimestampError:
        raise WebhookRefused("The webhook's timestamp is too far from now (a replay?).") from None
    except ValueError:
        # Never the library's message: one of them quotes the secret.
        raise WebhookRefused("The webhook's signature doesn't match REPLICATE_WEBHOOK_SECRET.") from None
