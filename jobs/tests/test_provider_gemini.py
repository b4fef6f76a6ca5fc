"""The Gemini provider where the shared contract doesn't reach: what it sends,
Google's safety blocks, the reported cost from token counts, the answer's size
cap, and Google's way of saying when to come back. Against the fake in
fakes/gemini.py."""

import base64
import io
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from PIL import Image

from jobs.models import Pipeline
from jobs.providers.base import COMPLETED, FAILED, Job, OutcomeUnknown, ProviderError, RateLimited, get_provider
from jobs.providers.gemini import reported_cost
from jobs.tests.conftest import make_source, run_queued

from .fakes.gemini import Harness
from .fakes.server import Reply

PROMPT = "turn the fox into a watercolour"


@pytest.fixture
def gemini(settings):
    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 1
    with Harness.started(settings) as harness:
        yield harness


def job(**options):
    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), (40, 120, 200)).save(buf, "PNG")
    return Job(model="gemini-flash-image", kind="i2i", prompt=PROMPT, options=options, source=lambda: buf.getvalue(), token="tok-123")


def submit(**options):
    return get_provider("gemini-flash-image").submit(job(**options))


def sent(gemini):
    [call] = gemini.fake.calls_to("POST", ":generateContent$")
    return call, json.loads(call.body)


def test_it_sends_the_source_the_prompt_and_the_settings_in_one_call(gemini):
    remote = submit(aspect_ratio="16:9", seed=42, quality="high", negative_prompt="blur")

    call, body = sent(gemini)
    assert call.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert call.headers["x-goog-api-key"] == "fake-key"
    [image, text] = body["contents"][0]["parts"]
    assert text == {"text": PROMPT}
    data = image["inlineData"]["data"]  # the client sends it URL-safe, unpadded, as Google's JSON allows
    source = Image.open(io.BytesIO(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))))
    assert (source.format, source.size) == ("JPEG", (1536, 1024)), "downscaled before it is sent"
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    assert body["generationConfig"]["seed"] == 42
    assert set(body["generationConfig"]["responseModalities"]) == {"IMAGE", "TEXT"}
    assert (remote.state, remote.external_id, remote.files[0].mime) == (COMPLETED, "req-00001", "image/png")


def test_it_keeps_the_sources_shape_when_the_aspect_ratio_is_auto(gemini):
    submit(aspect_ratio="auto")
    _, body = sent(gemini)
    assert "imageConfig" not in body["generationConfig"] and "seed" not in body["generationConfig"]


def test_it_reports_what_the_tokens_cost_beside_the_catalog_estimate(gemini, owner):
    gemini.succeed()
    pipeline = run_queued(Pipeline.objects.create_from_request(owner, _request(owner)))

    step = pipeline.steps.get()
    call = step.requests.get()
    prompt_tokens = 258 + len(PROMPT) // 4  # the fake's count: one image tile and the words
    expected = ((prompt_tokens * Decimal("0.30") + 1290 * Decimal("30")) / 1_000_000).quantize(Decimal("0.0001"))
    assert (call.cost, call.reported_cost) == (Decimal("0.0390"), expected)
    assert (step.cost_actual, step.cost_reported) == (Decimal("0.0390"), expected)


def test_it_fails_a_blocked_prompt_at_once_with_googles_reason_and_pays_nothing(gemini, owner):
    gemini.block("SAFETY")
    pipeline = run_queued(Pipeline.objects.create_from_request(owner, _request(owner)))

    step = pipeline.steps.get()
    assert (pipeline.status, step.status, step.attempts) == ("failed", "failed", 1)
    assert step.error == "Gemini blocked the request (SAFETY). Change the prompt or the source image."
    assert list(step.requests.values_list("state", "cost")) == [("refused", Decimal("0"))]
    assert gemini.submissions == 1, "never sent again by itself"


def test_it_says_why_when_the_safety_filters_refuse_the_image(gemini):
    gemini.fake.plan(outcome="failed", error="IMAGE_SAFETY")
    with pytest.raises(ProviderError) as refused:
        submit()
    assert refused.value.permanent
    assert refused.value.message == (
        "Gemini's safety filters refused this image (IMAGE_SAFETY). Change the prompt or the source image. "
        "Gemini said: \"I can't make that image.\""
    )


def test_it_says_when_the_model_made_no_image_for_another_reason(gemini):
    gemini.fail("no image")
    with pytest.raises(ProviderError, match=r"^Gemini made no image \(NO_IMAGE\)\. Gemini said"):
        submit()


def test_it_comes_back_when_googles_retry_info_says(gemini):
    gemini.refuse(429, retry_after=37, message="Resource has been exhausted (e.g. check quota).")
    with pytest.raises(RateLimited) as limited:
        submit()
    assert limited.value.retry_after == 37
    assert "Resource has been exhausted" in limited.value.message


def test_it_prefers_a_retry_after_header_where_one_is_sent(gemini):
    gemini.fake.force("POST", ":generateContent$", Reply(429, {"error": {"code": 429, "message": "slow down"}}, {"Retry-After": "12"}))
    with pytest.raises(RateLimited) as limited:
        submit()
    assert limited.value.retry_after == 12


def test_it_tries_a_refused_call_once_and_leaves_the_retry_to_the_work_queue(gemini):
    gemini.refuse(503, message="The model is overloaded. Please try again later.")
    with pytest.raises(ProviderError) as refused:
        submit()
    assert refused.value.retryable and "503" in refused.value.message and "overloaded" in refused.value.message
    assert len(gemini.fake.calls_to("POST", ":generateContent$")) == 1, "the client retried by itself"


def test_it_treats_a_late_answer_as_an_unknown_outcome_after_one_try(gemini):
    gemini.hang(seconds=2)
    with pytest.raises(OutcomeUnknown):
        submit()
    assert len(gemini.fake.calls_to("POST", ":generateContent$")) == 1


def test_it_reads_a_bad_key_as_a_permanent_error(gemini, settings):
    settings.GEMINI_API_KEY = "wrong"
    with pytest.raises(ProviderError) as refused:
        submit()
    assert refused.value.permanent and "API key not valid" in refused.value.message


def test_it_says_which_setting_to_set_without_a_key(gemini, settings):
    settings.GEMINI_API_KEY = ""
    with pytest.raises(ProviderError, match="GEMINI_API_KEY"):
        submit()
    assert gemini.fake.calls == []


def test_it_stops_reading_an_answer_bigger_than_any_image_it_would_keep(gemini, settings):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 150_000  # answers are cut off past 4/3 of it plus 64 KiB
    gemini.oversized(300_000)
    remote = submit()
    assert (remote.state, remote.files) == (FAILED, [])
    # Cut off while reading ("is bigger"), not measured after: answered, so billed, so FAILED with its cost.
    assert "is bigger, over the download limit" in remote.error


def test_it_retries_an_error_answer_that_is_too_big_to_read(gemini, settings):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 1024
    gemini.fake.force("POST", ":generateContent$", Reply(502, b"x" * 200_000, {"Content-Type": "text/html"}))
    with pytest.raises(ProviderError) as refused:
        submit()
    assert refused.value.retryable and "502" in refused.value.message


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # An image-only answer: every output token is the image's.
        (dict(prompt_token_count=1000, candidates_token_count=1290), "0.0390"),
        # Text beside the image is priced as text.
        (dict(prompt_token_count=1000, candidates_token_count=1390, candidates_tokens_details=[("IMAGE", 1290), ("TEXT", 100)]), "0.0393"),
        (dict(prompt_token_count=None, candidates_token_count=1290), None),
    ],
)
def test_it_prices_the_tokens_an_answer_reports(usage, expected):
    details = usage.pop("candidates_tokens_details", None)
    usage = SimpleNamespace(
        candidates_tokens_details=[SimpleNamespace(modality=m, token_count=n) for m, n in details] if details else None,
        thoughts_token_count=None, **usage,
    )  # fmt: skip
    assert reported_cost("gemini-2.5-flash-image", usage) == (Decimal(expected) if expected else None)


def test_it_reports_no_cost_for_a_model_whose_token_prices_it_doesnt_know():
    usage = SimpleNamespace(prompt_token_count=10, candidates_token_count=1290, candidates_tokens_details=None, thoughts_token_count=None)
    assert reported_cost("gemini-9-image", usage) is None


def _request(owner):
    stage = {"model": "gemini-flash-image", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard", "negative_prompt": ""}
    return {"name": "Gemini", "sources": [make_source(owner).pk], "prompts": [PROMPT], "i2i": stage, "i2v": None}
