"""OpenAI's Images API as a provider: gpt-image-1 edits, synchronous, one call per image.

    POST {OPENAI_BASE_URL}/images/edits   multipart: image, prompt, model, n=1, quality, size
      -> {"created", "data": [{"b64_json"}], "usage": {"input_tokens", "output_tokens",
          "input_tokens_details": {"text_tokens", "image_tokens"}}}    (its id: the x-request-id header)

Through the official `openai` client with max_retries=0: its own retries would send a submission again
after a timeout or a 5xx, and OpenAI would make (and bill) the image twice. Each call is one try; the work
queue decides what comes next, as for every provider (jobs/providers/http.py sorts the answers).

The answer is the image itself: it is decoded and validated here (an answer that can't be used was still
made and billed: a FAILED Remote with its cost, never a retry), and its price is computed from the tokens
the answer says were used (reported_cost, shown beside the catalog's per-image estimate, which prices a
1024x1024 image and no input). A call that gets no answer within OPENAI_TIMEOUT_SECONDS is an unknown
outcome: OpenAI gives the request no id we could ask about later, so nothing can look it up and its owner
is asked. The call runs in the worker that claimed the step, whose lease its keeper thread renews; at most
GENERATION_CONCURRENCY["openai"] calls are in flight per key (and no more than the generation worker slots,
since each call holds one).
"""

import base64
import binascii
from decimal import ROUND_HALF_UP, Decimal

import openai
from django.conf import settings

from . import http
from .base import (
    ASPECT_RATIOS,
    COMPLETED,
    FAILED,
    OutcomeUnknown,
    Provider,
    ProviderError,
    Remote,
    image_file,
    source_jpeg,
)

WHO = "OpenAI"
WHAT = "POST /images/edits"
NO_KEY = (
    "OpenAI is not configured: set the OPENAI_API_KEY environment variable to a key from "
    "https://platform.openai.com/api-keys and restart the web and worker processes, or choose another model."
)
QUALITY = {"draft": "low", "standard": "medium", "high": "high"}
# The sizes gpt-image-1 makes; "auto" lets it follow the source.
SQUARE, LANDSCAPE, PORTRAIT = "1024x1024", "1536x1024", "1024x1536"

# gpt-image-1's token prices in USD per million tokens, from https://openai.com/api/pricing/
# (and the model's page, https://platform.openai.com/docs/models/gpt-image-1), as of late 2025:
# text input $5, image input $10, image output $40. Override-free on purpose: the catalog's
# per-image price is the estimate; this is what the answer says was used, priced.
PER_MILLION = {"text_input": Decimal("5.00"), "image_input": Decimal("10.00"), "image_output": Decimal("40.00")}
CENTS = Decimal("0.0001")


class OpenAIImagesProvider(Provider):
    name = "openai"
    label = "OpenAI"
    synchronous = True
    key_setting = "OPENAI_API_KEY"
    no_key = NO_KEY

    @property
    def endpoint(self):
        return self.spec.get("endpoint") or self.model_id

    def _client(self):
        return openai.OpenAI(
            api_key=self.require_key(), base_url=settings.OPENAI_BASE_URL, max_retries=0,
            timeout=openai.Timeout(settings.OPENAI_TIMEOUT_SECONDS, connect=10),
        )  # fmt: skip

    def submit(self, job):
        self.require_kind(job.kind)
        fields = self.fields(job.options)
        image = ("source.jpg", source_jpeg(job.source()), "image/jpeg")
        if job.progress:
            job.progress(f"sending to {WHO}")  # a step cancelled meanwhile stops here, before paying
        with self._client() as client:
            try:
                answer = _edit(client, image=image, prompt=job.prompt, **fields)
            except _Unreadable as error:
                return Remote(FAILED, f"openai-{job.token}", error=str(error))
        cost = reported_cost(answer.usage)
        external_id = getattr(answer, "_request_id", None) or f"openai-{job.token}"
        try:
            file = result_file(answer)
        except ProviderError as error:
            return Remote(FAILED, external_id, error=error.message, reported_cost=cost)
        return Remote(COMPLETED, external_id, progress=100, files=[file], reported_cost=cost)

    def fields(self, options):
        """What the edit is sent besides the image and the prompt, from the step's settings."""
        from jobs.catalog import effective

        quality = QUALITY[effective(self.model_id, options)["quality"]]
        return {"model": self.endpoint, "n": 1, "quality": quality, "size": size(options)}


def size(options):
    ratio = ASPECT_RATIOS.get(options.get("aspect_ratio") or "")
    if ratio is None:
        return "auto"
    width, height = ratio
    return SQUARE if width == height else LANDSCAPE if width > height else PORTRAIT


def _edit(client, **fields):
    """The answer to one edit, or the error that says what may be done next."""
    try:
        return client.images.edit(**fields)
    except openai.APIStatusError as error:
        http.answer(error.response, WHO, WHAT, submission=True)  # raises: it is 300 or more
        raise
    except openai.APIConnectionError as error:  # APITimeoutError too
        # Only a failure to connect proves nothing was sent (httpx's, whichever httpx the client runs on).
        if type(error.__cause__).__name__ in ("ConnectError", "ConnectTimeout"):
            raise ProviderError(f"Could not reach {WHO} ({WHAT}).", retryable=True) from None
        raise OutcomeUnknown(
            f"{WHO} did not answer the submission ({type(error.__cause__ or error).__name__}); it may have made the image."
        ) from None
    except openai.APIError:
        # A 2xx answer the client can't read: the image was made, and billed.
        raise _Unreadable(f"{WHO} answered with something that is not an image result (it was billed).") from None


class _Unreadable(Exception):
    pass


def result_file(answer):
    """The image in an answer, decoded, within GENERATION_DOWNLOAD_MAX_BYTES, and validated."""
    data = answer.data or []
    encoded = data[0].b64_json if data else None
    if not encoded:
        raise ProviderError(f"{WHO} returned no image (a safety filter may have dropped it).")
    limit = settings.GENERATION_DOWNLOAD_MAX_BYTES
    if len(encoded) * 3 // 4 > limit:
        raise http.too_big(WHO, len(encoded) * 3 // 4, limit)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(f"The image from {WHO} is not an image we can read (its base64 is broken).") from None
    return image_file(raw, f"The image from {WHO}")


def reported_cost(usage):
    """The price of the tokens an answer says were used (None when it doesn't say)."""
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    text = getattr(details, "text_tokens", None)
    image = getattr(details, "image_tokens", None)
    if text is None or image is None:
        # No breakdown: priced as image input, the dearer kind, rather than guessed low.
        text, image = 0, usage.input_tokens or 0
    total = (
        text * PER_MILLION["text_input"] + image * PER_MILLION["image_input"]
        + (usage.output_tokens or 0) * PER_MILLION["image_output"]
    ) / 1_000_000  # fmt: skip
    return total.quantize(CENTS, rounding=ROUND_HALF_UP)
