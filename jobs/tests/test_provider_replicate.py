"""The Replicate provider where the shared contract doesn't reach: what each model is sent
for each setting, one try per call whatever the client library would do, the webhook
signature, and the lookup of a lost submission. Against the fake in fakes/replicate.py."""

import base64
import io
import json
import time

import pytest
from django.test import RequestFactory
from django.utils import timezone
from PIL import Image

from jobs.models import Pipeline
from jobs.providers import OutcomeUnknown, ProviderError, RateLimited, WebhookRefused
from jobs.providers.base import COMPLETED, FAILED, QUEUED, RUNNING, Job, get_provider
from jobs.providers.replicate import SOURCE_MAX_BYTES
from jobs.remote import RemoteRequest, check_due
from jobs.tasks import run_step
from jobs.tests.conftest import make_source

from .contract import drive
from .fakes.replicate import FakeReplicate, uncommitted_reads
from .fakes.server import Reply, mp4, png

PROMPT = "a red fox in the snow"


@pytest.fixture
def fake(settings):
    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 1
    with FakeReplicate() as fake, uncommitted_reads():
        fake.configure(settings)
        yield fake


def job(model, source=None, webhook_url=None, **options):
    kind = get_provider(model).spec["kind"]
    return Job(model, kind, PROMPT, options, source=lambda: source or png((64, 48)), token="tok", webhook_url=webhook_url)


def sent(model, **options):
    """The input `model` is sent for `options`, the source apart."""
    body = get_provider(model).payload(job(model, **options))
    return {key: value for key, value in body.items() if key not in ("input_image", "image_input", "start_image", "image")}


def decoded(data_uri):
    assert data_uri.startswith("data:image/jpeg;base64,")
    return base64.b64decode(data_uri.split(",", 1)[1])


# --- What each model is sent -----------------------------------------------------------------


def test_it_sends_flux_kontext_its_input_image_aspect_ratio_and_seed():
    body = get_provider("replicate-flux-kontext").payload(job("replicate-flux-kontext", aspect_ratio="16:9", seed=7))
    assert set(body) == {"prompt", "input_image", "aspect_ratio", "seed"}
    assert (body["prompt"], body["aspect_ratio"], body["seed"]) == (PROMPT, "16:9", 7)
    assert Image.open(io.BytesIO(decoded(body["input_image"]))).size == (64, 48)
    assert sent("replicate-flux-kontext", aspect_ratio="auto")["aspect_ratio"] == "match_input_image"
    assert "seed" not in sent("replicate-flux-kontext")


@pytest.mark.parametrize(("quality", "size"), [("draft", "1K"), ("standard", "2K"), ("high", "4K"), (None, "2K")])
def test_it_sends_seedream_a_list_of_images_one_output_and_the_size_for_the_quality(quality, size):
    body = get_provider("replicate-seedream-4").payload(job("replicate-seedream-4", quality=quality, aspect_ratio="3:4"))
    assert len(body["image_input"]) == 1 and decoded(body["image_input"][0])
    assert {k: v for k, v in body.items() if k != "image_input"} == {
        "prompt": PROMPT, "size": size, "aspect_ratio": "3:4", "sequential_image_generation": "disabled", "max_images": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("resolution", "duration", "mode", "seconds"),
    [("720p", 5, "standard", 5), ("1080p", 10, "pro", 10), ("480p", 7, "standard", 10), ("1080p", 30, "pro", 10)],
)
def test_it_sends_kling_its_start_image_mode_and_billed_duration(resolution, duration, mode, seconds):
    body = get_provider("replicate-kling-2.1").payload(
        job("replicate-kling-2.1", resolution=resolution, duration=duration, negative_prompt="blur", seed=3)
    )
    assert decoded(body.pop("start_image"))
    assert body == {"prompt": PROMPT, "mode": mode, "duration": seconds, "negative_prompt": "blur"}, "Kling takes no seed"
    assert "negative_prompt" not in sent("replicate-kling-2.1", negative_prompt="")


@pytest.mark.parametrize(("resolution", "sent_as"), [("480p", "480p"), ("720p", "720p"), ("1080p", "720p")])
def test_it_sends_wan_its_image_resolution_and_seed(resolution, sent_as):
    body = sent("replicate-wan-2.2", resolution=resolution, duration=5, seed=11)
    assert body == {"prompt": PROMPT, "resolution": sent_as, "seed": 11}


def test_it_shrinks_a_large_source_to_a_data_uri_replicate_accepts():
    noise = Image.effect_noise((3000, 2000), 90).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    body = get_provider("replicate-flux-kontext").payload(job("replicate-flux-kontext", source=buf.getvalue()))
    image = decoded(body["input_image"])
    assert len(image) <= SOURCE_MAX_BYTES
    assert max(Image.open(io.BytesIO(image)).size) <= 2048


# --- The calls ---------------------------------------------------------------------------------


def test_it_creates_a_prediction_of_the_model_with_its_webhook(fake):
    hook_url = "https://i2v.example.com/hooks/replicate/tok"
    remote = get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext", webhook_url=hook_url))

    assert (remote.state, remote.external_id) == (QUEUED, fake.order[0])
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/v1/models/black-forest-labs/flux-kontext-pro/predictions")
    assert call.headers["Authorization"] == "Bearer fake-token"
    body = json.loads(call.body)
    assert (body["webhook"], body["webhook_events_filter"]) == (hook_url, ["completed"])
    assert body["input"]["prompt"] == PROMPT


def test_it_asks_for_no_webhook_without_a_public_address(fake):
    get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext"))
    assert set(json.loads(fake.calls[0].body)) == {"input"}


def test_it_asks_once_where_the_client_library_would_retry(fake):
    provider = get_provider("replicate-flux-kontext")
    remote = provider.submit(job("replicate-flux-kontext"))
    busy = Reply(503, {"title": "Unavailable", "detail": "busy", "status": 503}, {"Retry-After": "1"})
    fake.force("GET", r"^/v1/predictions/", busy, times=None)

    with pytest.raises(ProviderError) as error:
        provider.check(RemoteRequest(external_id=remote.external_id))

    assert error.value.retryable and "503" in error.value.message
    assert len(fake.calls_to("GET", r"^/v1/predictions/")) == 1, "replicate's RetryTransport would have asked 10 times"


def test_it_keeps_a_429s_retry_after(fake):
    throttled = Reply(429, {"title": "Throttled", "detail": "Request was throttled.", "status": 429}, {"Retry-After": "17"})
    fake.force("POST", r"^/v1/models/", throttled)
    with pytest.raises(RateLimited) as error:
        get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext"))
    assert error.value.retry_after == 17 and "throttled" in error.value.message


def test_it_gives_a_submission_no_longer_than_the_timeout(fake):
    # The answer comes after 3 s: with the library's timeout=None the call would wait for it and succeed.
    real = fake.create
    fake.create = lambda *args: Reply(**{**real(*args).__dict__, "delay": 3})
    with pytest.raises(OutcomeUnknown):
        get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext"))
    assert fake.submissions == 1


def test_it_reads_the_states_progress_and_output_of_a_prediction(fake):
    provider = get_provider("replicate-seedream-4")
    fake.plan(queue=1, progress=(30,))
    request = RemoteRequest(external_id=provider.submit(job("replicate-seedream-4")).external_id)

    assert provider.check(request).state == QUEUED
    running = provider.check(request)
    assert (running.state, running.progress) == (RUNNING, 30)
    done = provider.check(request)
    assert (done.state, done.outputs) == (COMPLETED, [f"{fake.url}/files/{request.external_id}"]), "a list output"
    assert done.logs[-1] == "Predict time 2.5 s"


def test_it_reports_a_failed_prediction_with_replicates_error(fake):
    provider = get_provider("replicate-flux-kontext")
    fake.plan(queue=0, progress=(), outcome="failed", error="NSFW content detected")
    remote = provider.check(RemoteRequest(external_id=provider.submit(job("replicate-flux-kontext")).external_id))
    assert (remote.state, remote.error) == (FAILED, "Replicate: NSFW content detected")


def test_it_fetches_the_file_without_sending_the_token_to_the_file_host(fake):
    provider = get_provider("replicate-kling-2.1")
    fake.plan(queue=0, progress=(), file=mp4(), content_type="video/mp4")
    external_id = provider.submit(job("replicate-kling-2.1")).external_id
    done = provider.check(RemoteRequest(external_id=external_id))

    [file] = provider.fetch(RemoteRequest(external_id=external_id, result=done.outputs))

    assert (file.kind, file.mime) == ("video", "video/mp4")
    [download] = fake.calls_to("GET", r"^/files/")
    [api_call, *_] = fake.calls
    assert "fake-token" in str(api_call.headers.values()) and "fake-token" not in str(download.headers.values())


def test_it_cancels_the_prediction(fake):
    provider = get_provider("replicate-flux-kontext")
    external_id = provider.submit(job("replicate-flux-kontext")).external_id
    provider.cancel(RemoteRequest(external_id=external_id))
    assert fake.cancelled == [external_id]
    assert provider.check(RemoteRequest(external_id=external_id)).state == "cancelled"


def test_it_fails_readably_without_a_token(settings):
    settings.REPLICATE_API_TOKEN = ""
    with pytest.raises(ProviderError, match="REPLICATE_API_TOKEN") as error:
        get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext"))
    assert not error.value.retryable


# --- Webhooks ----------------------------------------------------------------------------------


def hook(headers, body):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return RequestFactory().post("/hooks/replicate/tok", body, content_type="application/json", **meta)


@pytest.fixture
def finished(fake):
    fake.plan(queue=0, progress=())
    return get_provider("replicate-flux-kontext").submit(job("replicate-flux-kontext")).external_id


def test_it_accepts_a_webhook_signed_with_the_secret(fake, finished):
    remote = get_provider("replicate-flux-kontext").webhook(hook(*fake.webhook_call(finished)))
    assert (remote.state, remote.external_id, remote.outputs) == (COMPLETED, finished, [f"{fake.url}/files/{finished}"])


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        ("other_secret", "doesn't match REPLICATE_WEBHOOK_SECRET"),
        ("old", "too far from now"),
        ("no_headers", "no Replicate signature headers"),
        ("body", "doesn't match REPLICATE_WEBHOOK_SECRET"),
    ],
)
def test_it_refuses_a_webhook_that_is_not_replicates(fake, finished, forge, message):
    other = "whsec_" + base64.b64encode(b"not the secret at all!!!").decode()
    headers, body = fake.webhook_call(
        finished, secret=other if forge == "other_secret" else None, timestamp=time.time() - 3600 if forge == "old" else None
    )
    if forge == "no_headers":
        headers = {}
    if forge == "body":
        body = body.replace(b'"succeeded"', b'"failed"')
    with pytest.raises(WebhookRefused, match=message):
        get_provider("replicate-flux-kontext").webhook(hook(headers, body))


def test_it_refuses_webhooks_without_a_secret_and_never_shows_a_malformed_one(fake, finished, settings):
    headers, body = fake.webhook_call(finished)
    settings.REPLICATE_WEBHOOK_SECRET = ""
    with pytest.raises(WebhookRefused, match="REPLICATE_WEBHOOK_SECRET is not set"):
        get_provider("replicate-flux-kontext").webhook(hook(headers, body))
    settings.REPLICATE_WEBHOOK_SECRET = "whsec_a_b_c-secret-value"
    with pytest.raises(WebhookRefused) as refused:
        get_provider("replicate-flux-kontext").webhook(hook(headers, body))
    assert "secret-value" not in str(refused.value)


# --- Finding a lost submission -------------------------------------------------------------------


def create(owner, prompts, model="replicate-flux-kontext", images_per_prompt=1):
    stage = {"model": model, "images_per_prompt": images_per_prompt, "aspect_ratio": "auto", "quality": "standard"}
    request = {"name": "Lost", "sources": [make_source(owner).pk], "prompts": prompts, "i2i": stage, "i2v": None}
    return Pipeline.objects.create_from_request(owner, request)


def lose_the_answer(fake):
    real = fake.create

    def late(*args):
        fake.create = real
        return Reply(**{**real(*args).__dict__, "delay": 2})

    fake.create = late


def test_it_finds_a_lost_submission_by_its_model_and_inputs(fake, owner, settings):
    settings.PUBLIC_BASE_URL = ""
    pipeline = create(owner, ["a blue owl", PROMPT])
    first, lost = pipeline.steps.order_by("order")
    fake.plan(queue=0, progress=())
    run_step.run(first.pk)  # the same model, another prompt: not ours
    fake.plan(queue=0, progress=())
    lose_the_answer(fake)
    assert run_step.run(lost.pk) == "outcome unknown"
    request = lost.requests.get()

    remote = get_provider("replicate-flux-kontext").lookup(request)

    assert (remote.state, remote.external_id) == (COMPLETED, fake.order[1])
    [listing] = fake.calls_to("GET", r"^/v1/predictions$")
    assert "created_after=" in listing.query and "created_before=" in listing.query
    assert drive(pipeline).status == "completed" and fake.submissions == 2


def test_it_leaves_a_prediction_another_request_already_has(fake, owner, settings):
    settings.PUBLIC_BASE_URL = ""
    pipeline = create(owner, [PROMPT])
    step = pipeline.steps.get()
    fake.plan(queue=0, progress=())
    lose_the_answer(fake)
    run_step.run(step.pk)
    request = step.requests.get()
    # Another request (say, an earlier attempt) already owns the only matching prediction.
    RemoteRequest.objects.create(
        step=step, owner=owner, pipeline=pipeline, provider="replicate", model=request.model, attempt=2,
        token="someone-else", external_id=fake.order[0], state="stored",
    )  # fmt: skip

    assert get_provider("replicate-flux-kontext").lookup(request) is None


def test_it_finds_nothing_when_the_inputs_differ(fake, owner, settings):
    settings.PUBLIC_BASE_URL = ""
    pipeline = create(owner, [PROMPT])
    step = pipeline.steps.get()
    lose_the_answer(fake)
    run_step.run(step.pk)
    fake.requests[fake.order[0]].payload["prompt"] = "something else entirely"

    assert get_provider("replicate-flux-kontext").lookup(step.requests.get()) is None


@pytest.mark.django_db(transaction=True)  # committed, so the poller's threads see the sibling's request
def test_it_never_takes_the_prediction_of_a_sibling_with_the_same_inputs(fake, owner, settings):
    settings.PUBLIC_BASE_URL = ""
    pipeline = create(owner, [PROMPT], model="replicate-seedream-4", images_per_prompt=2)
    first, lost = pipeline.steps.order_by("order")
    fake.plan(queue=10)
    run_step.run(first.pk)
    lose_the_answer(fake)
    assert run_step.run(lost.pk) == "outcome unknown"
    with fake.lock:
        fake.order.remove(fake.order[1])  # it never reached Replicate after all: only the sibling's is listed

    pipeline.requests.update(next_check_at=timezone.now())
    check_due()

    mine, theirs = lost.requests.get(), first.requests.get()
    seedream = get_provider("replicate-seedream-4")
    assert seedream.inputs(PROMPT, mine.settings) == seedream.inputs(PROMPT, theirs.settings), "no seed tells them apart"
    assert (mine.state, mine.external_id, theirs.external_id) == ("unknown", "", fake.order[0])
