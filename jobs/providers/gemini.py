"""Google's Gemini image models (gemini-2.5-flash-image, "Nano Banana") as a provider.

    POST {GEMINI_BASE_URL}/v1beta/models/{model}:generateContent        header x-goog-api-key
      {"contents": [{"role": "user", "parts": [{"inlineData": the source}, {"text": the prompt}]}],
       "generationConfig": {"responseModalities": ["IMAGE", "TEXT"], "imageConfig": {"aspectRatio"}, "seed"}}
    -> {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType", "data"}}, {"text"}]}, "finishReason"}],
        "promptFeedback": {"blockReason"}, "usageMetadata": {"promptTokenCount", "candidatesTokensDetails"}, "responseId"}

Synchronous: the answer carries the image, base64 inside the JSON, so submit()
returns the file itself, decoded and checked like any downloaded one. The
worker waits for it (GEMINI_TIMEOUT_SECONDS, generation takes seconds); how
many wait at once is GENERATION_CONCURRENCY_GEMINI.

Through the official google-genai client, because it can be held to what the
lifecycle needs: its base URL is ours to set (GEMINI_BASE_URL, a fake on
loopback in the tests), it retries nothing when told `attempts=1` (a timed-out
submission sent again would be paid twice), and it makes its calls on an
httpx client we hand it, whose transport caps the answer's size (the image
arrives inside it) and whose failures sort as every provider's do
(http.unanswered). Google has no way to look up a generateContent call, so an
unanswered submission is OutcomeUnknown and its owner decides.

Costs: the catalog's per-image price is the estimate; the answer's token counts
give the reported cost (TOKEN_PRICES). An answer with no image (a safety block,
or the model declining) bills only a few input tokens and fails the step with
Gemini's reason.
"""

import io
from decimal import ROUND_HALF_UP, Decimal

import httpx
from django.conf import settings
from google import genai
from google.genai import errors, types
from PIL import Image

from . import http
from .base import (
    ASPECT_RATIOS,
    COMPLETED,
    FAILED,
    SEED_MAX,
    OutcomeUnknown,
    Provider,
    ProviderError,
    RateLimited,
    Remote,
    image_file,
    int_setting,
    source_image,
)

WHO = "Gemini"
NO_KEY = (
    "Gemini is not configured: set the GEMINI_API_KEY environment variable to an API key from "
    "https://aistudio.google.com/apikey and restart the web and worker processes, or choose another model."
)
API_VERSION = "v1beta"  # where Google documents the image models
# The source is sent inline, downscaled: Google bills an input image by its 768 px tiles,
# and the model answers at about a megapixel whatever it is given.
SOURCE_MAX_SIDE = 1536
SOURCE_JPEG_QUALITY = 92
# Room in an answer for everything but the image (its base64 is 4/3 of the file).
ANSWER_OVERHEAD = 64 * 1024
# USD per million tokens, from Google's price page (https://ai.google.dev/gemini-api/docs/pricing),
# as published in late 2025: an output image of up to 1024 px is 1,290 tokens ($0.039).
TOKEN_PRICES = {
    "gemini-2.5-flash-image": {"input": Decimal("0.30"), "image": Decimal("30"), "text": Decimal("2.50")},
}
# finishReason / blockReason values that mean Google's filters stopped it.
BLOCKED = {
    "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
    "RECITATION", "IMAGE_RECITATION", "JAILBREAK",
}  # fmt: skip


class GeminiProvider(Provider):
    name = "gemini"
    label = "Google Gemini"
    synchronous = True
    key_setting = "GEMINI_API_KEY"
    no_key = NO_KEY

    @property
    def endpoint(self):
        return self.spec.get("endpoint") or self.model_id

    def submit(self, job):
        self.require_kind(job.kind)
        key = self.require_key()
        contents = [types.Part.from_bytes(data=encoded_source(job.source()), mime_type="image/jpeg"), job.prompt]
        config = self.config(job.options)
        what = f"POST /{API_VERSION}/models/{self.endpoint}:generateContent"
        with answer_client() as transport:
            client = genai.Client(api_key=key, vertexai=False, http_options=http_options(transport))
            try:
                response = client.models.generate_content(model=self.endpoint, contents=contents, config=config)
            except http.UNANSWERED as exc:
                raise http.unanswered(exc, WHO, what, submission=True) from None
            except AnswerTooBig as exc:
                if exc.status != 200:
                    raise ProviderError(f"{WHO} answered HTTP {exc.status} with an oversized body.", retryable=True) from None
                # Answered, so billed: the cost is recorded, the image refused.
                return Remote(FAILED, f"gemini-{job.token[:16]}", error=self.too_big().message)
            except errors.APIError as exc:
                raise refusal(exc, what) from None
            except errors.UnknownApiResponseError:
                raise OutcomeUnknown(f"{WHO} answered the submission with something that is not JSON; it may have made the image.") from None
        return self.answer(response, job.token)

    def config(self, options):
        config = {
            "response_modalities": ["IMAGE", "TEXT"], "candidate_count": 1,
            # No tools are given, and no call of ours may ever lead to another.
            "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
        }  # fmt: skip
        if options.get("aspect_ratio") in ASPECT_RATIOS:
            config["image_config"] = types.ImageConfig(aspect_ratio=options["aspect_ratio"])
        if options.get("seed") not in (None, ""):
            config["seed"] = int_setting(options, "seed", 0, 0, SEED_MAX)
        return types.GenerateContentConfig(**config)

    def answer(self, response, token):
        """The Remote of a generateContent answer: the image, or why there is none."""
        external_id = response.response_id or f"gemini-{token[:16]}"
        feedback = response.prompt_feedback
        if feedback and feedback.block_reason:
            reason = _name(feedback.block_reason)
            detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            raise ProviderError(f"Gemini blocked the request ({reason}){detail}. Change the prompt or the source image.")
        candidate = (response.candidates or [None])[0]
        parts = (candidate.content.parts if candidate and candidate.content else None) or []
        images = [part.inline_data for part in parts if part.inline_data and part.inline_data.data]
        if not images:
            raise ProviderError(no_image(candidate, parts))
        cost = reported_cost(self.endpoint, response.usage_metadata)
        data = images[0].data
        if len(data) > settings.GENERATION_DOWNLOAD_MAX_BYTES:
            return Remote(FAILED, external_id, error=self.too_big(len(data)).message, reported_cost=cost)
        try:
            file = image_file(data, "The image from Gemini")
        except ProviderError as error:
            return Remote(FAILED, external_id, error=error.message, reported_cost=cost)
        return Remote(COMPLETED, external_id, progress=100, files=[file], reported_cost=cost)

    def too_big(self, size=None):
        return http.too_big(WHO, size, settings.GENERATION_DOWNLOAD_MAX_BYTES)


def http_options(transport):
    return types.HttpOptions(
        base_url=settings.GEMINI_BASE_URL or None,
        api_version=API_VERSION,
        timeout=settings.GEMINI_TIMEOUT_SECONDS * 1000,  # milliseconds; without it the client waits forever
        retry_options=types.HttpRetryOptions(attempts=1),  # one try: see the module's docstring
        httpx_client=transport,
    )


def refusal(exc, what):
    """The ProviderError an HTTP error answer means, sorted as http.answer sorts them."""
    if exc.response is None:
        return ProviderError(f"{WHO} answered HTTP {exc.code}: {exc.message or exc.status}", retryable=exc.code >= 500)
    try:
        http.answer(exc.response, WHO, what, submission=True)
    except RateLimited as limited:
        if limited.retry_after is None:
            limited.retry_after = retry_delay(exc.details)
        return limited
    except ProviderError as error:
        return error
    return ProviderError(f"{WHO} answered HTTP {exc.code}.", retryable=True)


def retry_delay(details):
    """Seconds from the google.rpc.RetryInfo in an error answer ("retryDelay": "37s"), or None:
    Google says when to come back there rather than in a Retry-After header."""
    error = details.get("error") if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(item.get("retryDelay", "")).rstrip("s")
            try:
                return max(0.0, float(delay))
            except ValueError:
                return None
    return None


def no_image(candidate, parts):
    """Why an answer has no image, in words its owner can act on."""
    said = " ".join(part.text.strip() for part in parts if part.text).strip()
    said = f' Gemini said: "{said[:300]}"' if said else ""
    if candidate is None:
        return f"Gemini answered with no image and no reason.{said}"
    reason = _name(candidate.finish_reason) or "no reason given"
    if reason in BLOCKED:
        return f"Gemini's safety filters refused this image ({reason}). Change the prompt or the source image.{said}"
    return f"Gemini made no image ({reason}).{said}"


def reported_cost(endpoint, usage):
    """What the answer's token counts cost at TOKEN_PRICES, or None where they don't say."""
    prices = TOKEN_PRICES.get(endpoint)
    if prices is None or usage is None or usage.prompt_token_count is None:
        return None
    output = usage.candidates_token_count or 0
    details = usage.candidates_tokens_details
    if details:
        image = sum(d.token_count or 0 for d in details if _name(d.modality) == "IMAGE")
    else:
        image = output  # an image-only answer: every output token is the image's
    text = output - image + (usage.thoughts_token_count or 0)
    total = usage.prompt_token_count * prices["input"] + image * prices["image"] + text * prices["text"]
    return (total / 1_000_000).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def encoded_source(source):
    image = source_image(source)
    if max(image.size) > SOURCE_MAX_SIDE:
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=SOURCE_JPEG_QUALITY)
    return buf.getvalue()


def _name(value):
    return getattr(value, "value", value) or ""


# --- An httpx client whose answers can't be bigger than the image we'd accept -------------------


class AnswerTooBig(Exception):
    def __init__(self, status):
        super().__init__(f"an answer over the size limit (HTTP {status})")
        self.status = status


def answer_client():
    limit = settings.GENERATION_DOWNLOAD_MAX_BYTES * 4 // 3 + ANSWER_OVERHEAD
    return httpx.Client(
        transport=_CappedTransport(limit),
        timeout=httpx.Timeout(settings.GEMINI_TIMEOUT_SECONDS, connect=10),
        # identity: the cap counts the bytes as they will be decoded, so no compressed bomb slips past it.
        headers={"User-Agent": http.USER_AGENT, "Accept-Encoding": "identity"},
        follow_redirects=False,
    )


class _CappedTransport(httpx.HTTPTransport):
    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def handle_request(self, request):
        response = super().handle_request(request)
        response.stream = _CappedStream(response.stream, self.limit, response.status_code)
        return response


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, stream, limit, status):
        self.stream, self.limit, self.status = stream, limit, status

    def __iter__(self):
        total = 0
        for chunk in self.stream:
            total += len(chunk)
            if total > self.limit:
                raise AnswerTooBig(self.status)
            yield chunk

    def close(self):
        self.stream.close()
