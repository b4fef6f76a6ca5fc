"""The OpenAI Images provider where the shared contract doesn't reach: what an edit is sent
for each setting, one try per call, and the token usage priced as the reported cost.
Against the fake in fakes/openai.py."""

import io
import socket
from decimal import Decimal
from types import SimpleNamespace

import pytest
from PIL import Image

from jobs.catalog import bill
from jobs.models import Pipeline
from jobs.providers import OutcomeUnknown, ProviderError, RateLimited
from jobs.providers.base import COMPLETED, FAILED, Job, get_provider
from jobs.providers.openai_images import reported_cost
from jobs.tests.conftest import make_source

from .contract import drive
from .fakes.openai import FakeOpenAI, form_fields
from .fakes.server import Reply, png

PROMPT = "a red fox in the snow"


@pytest.fixture
def fake(settings):
    with FakeOpenAI() as fake:
        fake.configure(settings)
        settings.OPENAI_TIMEOUT_SECONDS = 1
        yield fake


@pytest.fixture
def provider():
    return get_provider("gpt-image-1")


def job(source=None, progress=None, **options):
    return Job("gpt-image-1", "i2i", PROMPT, options, source=lambda: source or png((64, 48)), token="tok", progress=progress)


def usage(text=5, image=323, out=1056, details=True):
    breakdown = SimpleNamespace(text_tokens=text, image_tokens=image) if details else None
    return SimpleNamespace(input_tokens=text + image, output_tokens=out, input_tokens_details=breakdown)


# --- What an edit is sent ----------------------------------------------------------------------


@pytest.mark.parametrize(("quality", "sent"), [("draft", "low"), ("standard", "medium"), ("high", "high"), (None, "medium")])
def test_it_sends_the_quality_of_the_steps_setting(provider, quality, sent):
    assert provider.fields({"quality": quality})["quality"] == sent


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("auto", "auto"), (None, "auto"), ("1:1", "1024x1024"), ("16:9", "1536x1024"), ("4:3", "1536x1024"),
     ("3:2", "1536x1024"), ("9:16", "1024x1536"), ("3:4", "1024x1536"), ("2:3", "1024x1536")],
)  # fmt: skip
def test_it_sends_the_size_nearest_the_aspect_ratio(provider, ratio, size):
    assert provider.fields({"aspect_ratio": ratio})["size"] == size


def test_it_posts_one_multipart_edit_of_the_source(fake, provider):
    remote = provider.submit(job(quality="high", aspect_ratio="9:16"))

    assert (remote.state, remote.external_id) == (COMPLETED, f"req_{fake.order[0]}")
    [call] = fake.calls
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert (call.method, call.path, headers["authorization"]) == ("POST", "/v1/images/edits", "Bearer fake-key")
    fields = form_fields(headers["content-type"], call.body)
    source = Image.open(io.BytesIO(fields.pop("image")))
    assert (source.format, source.size) == ("JPEG", (64, 48))
    assert fields == {"prompt": PROMPT, "model": "gpt-image-1", "n": "1", "quality": "high", "size": "1024x1536"}
    [file] = remote.files
    assert (file.mime, file.width, file.height) == ("image/png", 32, 24)


def test_it_stops_before_paying_for_a_step_cancelled_meanwhile(fake, provider):
    def cancelled(note):
        raise ProviderError("cancelled")

    with pytest.raises(ProviderError):
        provider.submit(job(progress=cancelled))
    assert fake.calls == []


# --- One try per call ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_it_asks_once_where_the_client_library_would_retry(fake, provider, status):
    busy = Reply(status, {"error": {"message": "busy", "type": "server_error"}}, {"Retry-After": "9"})
    fake.force("POST", r"^/v1/images/edits", busy, times=None)

    with pytest.raises(ProviderError) as error:
        provider.submit(job())

    assert error.value.retryable and len(fake.calls) == 1, "the openai client retries twice by default"
    if status == 429:
        assert isinstance(error.value, RateLimited) and error.value.retry_after == 9


def test_it_fails_at_once_on_openais_refusal_with_its_message(fake, provider):
    fake.plan(outcome="failed", error="Your request was rejected by the safety system.")
    with pytest.raises(ProviderError, match="rejected by the safety system") as error:
        provider.submit(job())
    assert not error.value.retryable


def test_it_never_resends_an_edit_that_got_no_answer(fake, provider):
    real = fake.edit
    fake.edit = lambda *args: Reply(**{**real(*args).__dict__, "delay": 2})
    with pytest.raises(OutcomeUnknown):
        provider.submit(job())
    assert fake.submissions == 1


def test_it_may_try_again_when_nothing_was_sent(settings, provider):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once it is closed
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "fake-key", f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ProviderError) as error:
        provider.submit(job())
    assert error.value.retryable and not isinstance(error.value, OutcomeUnknown)


def test_it_fails_readably_without_a_key(settings, provider):
    settings.OPENAI_API_KEY = ""
    with pytest.raises(ProviderError, match="OPENAI_API_KEY") as error:
        provider.submit(job())
    assert not error.value.retryable


# --- What it cost ----------------------------------------------------------------------------------


def test_it_prices_the_tokens_the_answer_says_were_used():
    # $5 per million text tokens in, $10 image in, $40 image out.
    assert reported_cost(usage(text=5, image=323, out=1056)) == Decimal("0.0455")  # 0.000025 + 0.00323 + 0.04224
    assert reported_cost(usage(text=12, image=323, out=6208)) == Decimal("0.2516")  # a high 1536x1024 image
    # The catalog's draft estimate ($0.011) is OpenAI's per-image figure for these 272 output tokens.
    assert reported_cost(usage(text=0, image=0, out=272)) == Decimal("0.0109")
    assert bill("gpt-image-1", {"quality": "draft"}).total == Decimal("0.0110")


def test_it_prices_input_without_a_breakdown_as_image_tokens_and_no_usage_as_unknown():
    assert reported_cost(usage(text=100, image=0, out=0, details=False)) == Decimal("0.0010")
    assert reported_cost(None) is None


def test_it_reports_the_token_cost_of_an_answer(fake, provider):
    remote = provider.submit(job(quality="standard", aspect_ratio="1:1"))
    words = len(PROMPT.split())
    assert remote.reported_cost == reported_cost(usage(text=words, image=323, out=1056))


def test_it_returns_a_billed_failure_for_an_answer_it_cannot_use(fake, provider, settings):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 100_000
    fake.plan(file_size=300_000)
    too_big = provider.submit(job())
    fake.plan(file=b"<html>oops</html>")
    not_an_image = provider.submit(job())

    assert (too_big.state, not_an_image.state) == (FAILED, FAILED)
    assert "over the download limit" in too_big.error and "not an image" in not_an_image.error
    assert too_big.reported_cost and not_an_image.reported_cost, "OpenAI billed them"


def test_it_records_the_reported_cost_beside_the_estimate(fake, owner):
    stage = {"model": "gpt-image-1", "images_per_prompt": 1, "aspect_ratio": "16:9", "quality": "high", "negative_prompt": ""}
    request = {"name": "Edit", "sources": [make_source(owner).pk], "prompts": [PROMPT], "i2i": stage, "i2v": None}
    pipeline = drive(Pipeline.objects.create_from_request(owner, request))

    step = pipeline.steps.get()
    [call] = step.requests.all()
    reported = reported_cost(usage(text=len(PROMPT.split()), image=323, out=6208))
    assert (call.state, call.cost, call.reported_cost) == ("stored", Decimal("0.1670"), reported)
    assert (step.cost_actual, step.cost_reported) == (Decimal("0.1670"), reported)
