"""The fal queue adapter, end to end against a fake fal server on loopback."""

import base64
import io
from decimal import Decimal

import pytest
from PIL import Image

from jobs.providers import fal as fal_module
from jobs.providers.base import ProviderError, get_provider
from jobs.providers.local import Motion, encode_clip

from .fake_fal import FakeFal, Reply

PROMPT = "turn the cat into a watercolour"


def png(size=(64, 48), colour=(200, 30, 90)):
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def mp4():
    return encode_clip(Image.new("RGB", (96, 64), (20, 120, 200)), (96, 64), Motion.of("waves", 0), fps=12, frames=12)


@pytest.fixture
def fal(settings, monkeypatch):
    # Loopback must never go through a proxy some environment sets.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with FakeFal() as fake:
        settings.FAL_KEY = "test-key"
        settings.FAL_QUEUE_URL = fake.url
        settings.FAL_TIMEOUT_SECONDS = 1
        settings.FAL_POLL_SECONDS = 0.01
        settings.FAL_DEADLINE_SECONDS = 5
        settings.FAL_MAX_ATTEMPTS = 3
        settings.FAL_BACKOFF_SECONDS = 0.01
        settings.FAL_BACKOFF_MAX_SECONDS = 0.05
        settings.GENERATION_DOWNLOAD_MAX_BYTES = 200_000
        yield fake


@pytest.fixture
def waits(monkeypatch):
    """The pauses the adapter takes between tries, recorded instead of slept."""
    taken = []
    monkeypatch.setattr(fal_module, "pause", taken.append)
    return taken


def with_images(fake, *files):
    fake.result = {"images": [{"url": fake.add_file(f"out-{i}.png", data)} for i, data in enumerate(files)], "seed": 7}


def test_it_generates_images_through_the_queue(fal):
    with_images(fal, png(), png(colour=(0, 90, 0)))

    result = get_provider("flux-kontext").generate_images(png((300, 200)), PROMPT, {"images_per_prompt": 2, "aspect_ratio": "16:9"})

    assert [(f.mime, f.extension, f.width, f.height) for f in result.files] == [("image/png", "png", 64, 48)] * 2
    assert result.cost == Decimal("0.0800")
    assert result.metadata["request_id"] == "req-1"
    assert result.metadata["seed"] == 7
    (submit,) = fal.requests_to("POST", ".")
    assert submit.path == "/fal-ai/flux-pro/kontext"
    assert submit.headers["Authorization"] == "Key test-key"
    assert submit.body["prompt"] == PROMPT
    assert submit.body["num_images"] == 2
    assert submit.body["aspect_ratio"] == "16:9"


def test_it_sends_the_source_as_a_data_uri(fal):
    with_images(fal, png())

    get_provider("flux-kontext").generate_images(png((300, 200)), PROMPT, {})

    uri = fal.requests_to("POST", ".")[0].body["image_url"]
    assert uri.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (300, 200)


def test_it_polls_the_app_until_completed_and_keeps_the_key_from_downloads(fal):
    with_images(fal, png())
    notes = []

    get_provider("flux-kontext").generate_images(png(), PROMPT, {}, on_progress=notes.append)

    # Requests are addressed by app (fal-ai/flux-pro), not by the endpoint's full path.
    paths = [(c.method, c.path) for c in fal.calls]
    assert paths == [
        ("POST", "/fal-ai/flux-pro/kontext"),
        ("GET", "/fal-ai/flux-pro/requests/req-1/status"),
        ("GET", "/fal-ai/flux-pro/requests/req-1/status"),
        ("GET", "/fal-ai/flux-pro/requests/req-1/status"),
        ("GET", "/fal-ai/flux-pro/requests/req-1"),
        ("GET", "/files/out-0.png"),
    ]
    assert notes == ["queued at fal, position 0", "running at fal"]
    assert "Authorization" not in fal.requests_to("GET", "^/files/")[0].headers


def test_it_generates_a_video(fal):
    fal.result = {"video": {"url": fal.add_file("clip.mp4", mp4(), "video/mp4")}}

    result = get_provider("kling-2.1").generate_video(png(), "waves roll in", {"duration": 7, "negative_prompt": "blur"})

    (video,) = result.files
    assert (video.mime, video.extension, video.width, video.height) == ("video/mp4", "mp4", 96, 64)
    assert video.duration == pytest.approx(1.0, abs=0.1)
    # Kling makes 5 or 10 s clips: 7 s becomes 5, and 5 s is what is charged.
    submit = fal.requests_to("POST", ".")[0]
    assert submit.path == "/fal-ai/kling-video/v2.1/standard/image-to-video"
    assert submit.body["duration"] == "5"
    assert submit.body["negative_prompt"] == "blur"
    assert result.cost == Decimal("0.2500")
    assert fal.requests_to("GET", "^/fal-ai/kling-video/requests/req-1/status$")


def test_it_retries_a_429_honouring_retry_after(fal, waits):
    with_images(fal, png())
    fal.force("POST", ".", Reply(429, {"detail": "Too many requests"}, {"Retry-After": "0.04"}))

    result = get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert len(result.files) == 1
    assert len(fal.requests_to("POST", ".")) == 2
    assert waits[0] == 0.04


def test_it_backs_off_exponentially_on_5xx_then_gives_up_retryably(fal, waits):
    fal.force("GET", "/status$", Reply(503, {"detail": "upstream overloaded"}), times=99)

    with pytest.raises(ProviderError) as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert caught.value.retryable
    assert "HTTP 503" in caught.value.message and "upstream overloaded" in caught.value.message
    assert "after 3 attempts" in caught.value.message
    assert len(fal.requests_to("GET", "/status$")) == 3
    # 0.01 then 0.02, each plus up to a quarter of jitter.
    assert 0.01 <= waits[0] <= 0.0125 and 0.02 <= waits[1] <= 0.025
    # The request was given up on, so it is cancelled at fal: nothing more is charged.
    assert fal.requests_to("PUT", "/requests/req-1/cancel$")


def test_it_reports_a_permanent_4xx_with_fals_message(fal, waits):
    detail = [{"loc": ["body", "image_url"], "msg": "Image is too small, minimum 300x300", "type": "value_error"}]
    fal.force("POST", ".", Reply(422, {"detail": detail}))

    with pytest.raises(ProviderError) as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable
    assert caught.value.message == "fal rejected the request (HTTP 422): image_url: Image is too small, minimum 300x300"
    assert len(fal.calls) == 1 and waits == []


def test_it_says_when_the_key_is_refused(fal):
    fal.force("POST", ".", Reply(401, {"detail": "Invalid API key"}))

    with pytest.raises(ProviderError, match="refused the API key.*Invalid API key.*FAL_KEY") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable


def test_it_times_out_retryably_without_submitting_twice(fal):
    fal.force("POST", ".", Reply(200, {"request_id": "slow"}, delay=3))

    with pytest.raises(ProviderError, match="timed out") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert caught.value.retryable
    # The first submission may have been queued: a second could be charged twice.
    assert len(fal.requests_to("POST", ".")) == 1


def test_it_cancels_a_request_that_misses_the_deadline(fal, settings):
    settings.FAL_DEADLINE_SECONDS = 0.2
    fal.statuses = ["IN_PROGRESS"]

    with pytest.raises(ProviderError, match="did not finish within 0.2 s") as caught:
        get_provider("kling-2.1").generate_video(png(), "waves", {})

    assert caught.value.retryable
    assert fal.requests_to("PUT", "^/fal-ai/kling-video/requests/req-1/cancel$")


def test_it_cancels_the_request_when_the_caller_stops_it(fal):
    class Cancelled(Exception):
        pass

    def stop(note):
        raise Cancelled

    with pytest.raises(Cancelled):
        get_provider("flux-kontext").generate_images(png(), PROMPT, {}, on_progress=stop)

    assert fal.requests_to("PUT", "/requests/req-1/cancel$")
    assert not fal.requests_to("GET", "/requests/req-1$")


def test_it_reports_a_request_that_failed_at_fal(fal):
    fal.force("GET", "/requests/req-1$", Reply(422, {"detail": "Content policy violation"}))

    with pytest.raises(ProviderError, match="HTTP 422.*Content policy violation") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable


def test_it_refuses_an_output_over_the_size_cap(fal, settings):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 50_000
    with_images(fal, png((600, 600)) + b"\0" * 60_000)

    with pytest.raises(ProviderError, match="over the download limit of 50,000 bytes") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable


def test_it_cuts_off_an_oversized_output_sent_without_a_length(fal, settings):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 50_000
    url = fal.add_file("big.png", png() + b"\0" * 500_000, content_length=False)
    fal.result = {"images": [{"url": url}]}

    with pytest.raises(ProviderError, match="is bigger, over the download limit"):
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})


def test_it_returns_no_partial_result_when_one_output_is_refused(fal, settings):
    # The provider stores nothing: with the whole call failing, the executor has no file to keep.
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 50_000
    with_images(fal, png(), png() + b"\0" * 60_000)

    with pytest.raises(ProviderError, match="over the download limit"):
        get_provider("flux-kontext").generate_images(png(), PROMPT, {"images_per_prompt": 2})

    assert len(fal.requests_to("GET", "^/files/")) == 2


def test_it_rejects_an_output_that_is_not_an_image(fal):
    html = b"<!DOCTYPE html><html><body>Bad gateway</body></html>"
    fal.result = {"images": [{"url": fal.add_file("out.png", html, "image/png")}]}

    with pytest.raises(ProviderError, match="not an image we can read.*HTML") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable


def test_it_rejects_a_video_that_is_an_image(fal):
    fal.result = {"video": {"url": fal.add_file("clip.mp4", png(), "video/mp4")}}

    # FFmpeg reads a PNG as a one-frame video: the container format is what gives it away.
    with pytest.raises(ProviderError, match="is a png_pipe file; only MP4 and WebM videos are accepted"):
        get_provider("kling-2.1").generate_video(png(), "waves", {})


def test_it_refuses_output_urls_it_should_not_fetch(fal):
    fal.result = {"images": [{"url": "file:///etc/passwd"}]}

    with pytest.raises(ProviderError, match="won't fetch"):
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})


def test_it_says_how_to_configure_a_missing_key(fal, settings):
    settings.FAL_KEY = ""

    with pytest.raises(ProviderError, match="set the FAL_KEY environment variable") as caught:
        get_provider("flux-kontext").generate_images(png(), PROMPT, {})

    assert not caught.value.retryable
    assert fal.calls == []


def test_it_parses_retry_after_as_seconds_or_a_date():
    assert fal_module.retry_after({"Retry-After": "3"}) == 3
    assert fal_module.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert fal_module.retry_after({"Retry-After": "soon"}) is None
    assert fal_module.retry_after({}) is None
