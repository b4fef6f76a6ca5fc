"""One contract, every provider: each case runs against each provider's fake
server, through the real executor, poller and webhook view (see contract.py).

success; queue position and progress; 429 with Retry-After; 5xx; a permanent
4xx; an unknown outcome; cancel; an oversized or non-image result; a webhook
replayed; the database failing once the provider took a request, or as its
result is stored.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, OperationalError
from django.utils import timezone

from i2v.lib.workqueue import Superseded
from jobs import executor
from jobs.catalog import bill
from jobs.models import Pipeline, Step
from jobs.remote import RemoteRequest, check_due
from jobs.tasks import run_step
from jobs.tests.conftest import make_source

from . import fakes
from .contract import drive
from .fakes.server import png

PROMPT = "a red fox in the snow"


HARNESSES = fakes.harnesses()



@pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
def provider(request, settings):
    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 1
    with request.param.started(settings) as harness:
        yield harness


def create(owner, model, **stage):
    kind = "i2v" if stage.pop("video", False) else "i2i"
    settings_ = {"model": model, "negative_prompt": ""}
    if kind == "i2i":
        settings_ |= {"images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard"}
    else:
        settings_ |= {"videos_per_image": 1, "resolution": "720p", "duration": 5}
    settings_ |= stage
    request = {"name": "Contract", "sources": [make_source(owner).pk], "prompts": [PROMPT], "i2i": None, "i2v": None, kind: settings_}
    return Pipeline.objects.create_from_request(owner, request)


def test_it_makes_an_image_and_records_what_it_costs(provider, owner):
    provider.succeed()
    pipeline = drive(create(owner, provider.model))

    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    step = pipeline.steps.get()
    [call] = step.requests.all()
    assert (call.state, call.attempt, bool(call.external_id)) == ("stored", 1, True)
    assert call.cost == bill(provider.model, step.config).total == step.cost_estimate == step.cost_actual
    assert pipeline.total_cost == call.cost
    output = pipeline.outputs.select_related("asset").get()
    assert (output.asset.kind, output.asset.source) == ("image", "generated")
    assert provider.submissions == 1


def test_it_makes_a_video(provider, owner):
    if not provider.video_model:
        pytest.skip(f"{provider.name} offers no video model")
    provider.succeed(video=True)
    pipeline = drive(create(owner, provider.video_model, video=True))

    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert pipeline.outputs.get().asset.kind == "video"
    assert pipeline.total_cost == bill(provider.video_model, pipeline.steps.get().config).total


def test_it_shows_the_queue_position_then_the_progress(provider, owner):
    if provider.synchronous:
        pytest.skip("a synchronous provider answers with the file")
    provider.succeed(queue=3, progress=(25, 75))
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    seen = []
    for _ in range(8):
        pipeline.requests.update(next_check_at=timezone.now())
        check_due()
        step.refresh_from_db()
        if step.status != "waiting":
            break
        seen.append((step.queue_position, step.progress))
    queued = [position for position, _ in seen if position is not None]
    if provider.queue_positions:
        assert queued and queued == sorted(queued, reverse=True), seen
    else:
        assert not queued and seen[0] == (None, 0), f"waiting to start, with no progress yet: {seen}"
    if provider.reports_progress:
        assert [p for position, p in seen if position is None and p][:2] == [25, 75], seen
    else:
        assert not any(p for _, p in seen), f"running, without a percentage: {seen}"
    pipeline.refresh_from_db()
    assert "at the provider" in pipeline.describe_activity() or step.status != "waiting"


def test_it_waits_out_a_429_without_counting_an_attempt(provider, owner):
    provider.refuse(429, retry_after=30, message="Too many requests")
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    started = timezone.now()

    assert run_step.run(step.pk) == "rate limited"

    step.refresh_from_db()
    assert (step.status, step.attempts) == ("queued", 0)
    assert (step.available_at - started).total_seconds() == pytest.approx(30, abs=2)
    assert list(step.requests.values_list("state", "cost")) == [("refused", Decimal("0"))]
    provider.succeed()
    Step.objects.filter(pk=step.pk).update(available_at=timezone.now())
    assert drive(pipeline).status == "completed"


def test_it_retries_a_5xx_with_backoff_and_pays_once(provider, owner):
    provider.refuse(503, message="Service unavailable")
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()

    assert run_step.run(step.pk) == "failed"

    step.refresh_from_db()
    assert (step.status, step.attempts, step.sent_at) == ("queued", 1, None)
    assert "503" in step.error
    provider.succeed()
    Step.objects.filter(pk=step.pk).update(available_at=timezone.now())
    pipeline = drive(pipeline)
    assert pipeline.status == "completed"
    assert list(step.requests.order_by("attempt").values_list("state", flat=True)) == ["refused", "stored"]
    assert pipeline.total_cost == bill(provider.model, step.config).total, "only the accepted request is billed"


def test_it_fails_a_permanent_4xx_at_once_with_the_providers_message(provider, owner):
    provider.refuse(422, message="image_url: unsupported image format")
    pipeline = drive(create(owner, provider.model))

    step = pipeline.steps.get()
    assert (pipeline.status, step.status, step.attempts) == ("failed", "failed", 1)
    assert "unsupported image format" in step.error
    assert step.cost_actual == 0


def test_it_never_resubmits_a_submission_whose_outcome_is_unknown(provider, owner, settings):
    settings.PUBLIC_BASE_URL = ""  # no webhook to find it by
    provider.hang(seconds=2)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()

    assert run_step.run(step.pk) == "outcome unknown"

    step.refresh_from_db()
    [call] = step.requests.all()
    assert call.state == "unknown"
    expected = "waiting" if provider.can_lookup else "unknown"
    assert step.status == expected and step.error.startswith("Outcome unknown")
    for _ in range(3):
        Step.objects.sweep()
        Step.objects.dispatch()
        drive(pipeline)
    assert provider.submissions == 1, "sent once, whatever happened since"
    pipeline.refresh_from_db()
    if provider.can_lookup:
        # Found at the provider by the id we gave it, then followed to the end like any other.
        assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
        assert list(step.requests.values_list("state", "attempt")) == [("stored", 1)]
        assert pipeline.outputs.count() == 1
    else:
        assert pipeline.status == "failed" and "1 outcome unknown" in pipeline.activity
        assert pipeline.retry_cost() == step.cost_estimate, "what a retry may cost is shown"


def test_it_finds_an_unknown_outcome_by_its_webhook(provider, owner, settings, client):
    if not provider.webhooks:
        pytest.skip(f"{provider.name} sends no webhooks")
    settings.PUBLIC_BASE_URL = "https://i2v.example.com"
    provider.succeed(queue=0, progress=())
    provider.hang(seconds=2)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()

    assert run_step.run(step.pk) == "outcome unknown"
    step.refresh_from_db()
    assert step.status == "waiting", "it waits for the webhook that names it"
    [call] = step.requests.all()
    headers, body = provider.webhook(provider.fake.order[0])
    response = client.post(f"/hooks/{provider.name}/{call.token}", body, content_type="application/json", **_meta(headers))

    assert response.status_code == 200
    assert drive(pipeline).status == "completed"
    assert provider.submissions == 1 and pipeline.outputs.count() == 1


def test_it_cancels_at_the_provider_when_its_step_is_cancelled(provider, owner):
    if provider.synchronous:
        pytest.skip("a synchronous provider has nothing running to cancel")
    provider.succeed(queue=5)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    call = step.requests.get()

    pipeline.cancel()
    check_due()

    call.refresh_from_db()
    assert call.state == "cancelled" and provider.cancelled == [call.external_id]
    assert pipeline.steps.get().status == "cancelled"


@pytest.mark.parametrize("bad", ["oversized", "not_an_image"])
def test_it_refuses_a_bad_result_but_records_what_it_cost(provider, owner, settings, bad):
    settings.GENERATION_DOWNLOAD_MAX_BYTES = 100_000
    if bad == "oversized":
        provider.oversized(300_000)
    else:
        provider.not_an_image()
    pipeline = drive(create(owner, provider.model))

    step = pipeline.steps.get()
    assert (pipeline.status, step.status) == ("failed", "failed")
    assert ("over the download limit" if bad == "oversized" else "not an image") in step.error
    assert step.cost_actual == bill(provider.model, step.config).total, "the provider billed it"
    assert pipeline.outputs.count() == 0


def test_it_applies_a_replayed_webhook_once(provider, owner, settings, client):
    if not provider.webhooks:
        pytest.skip(f"{provider.name} sends no webhooks")
    settings.PUBLIC_BASE_URL = "https://i2v.example.com"
    provider.succeed(queue=0, progress=())
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    call = step.requests.get()
    headers, body = provider.webhook(call.external_id)
    url = f"/hooks/{provider.name}/{call.token}"

    first = client.post(url, body, content_type="application/json", **_meta(headers))
    again = client.post(url, body, content_type="application/json", **_meta(headers))

    assert (first.status_code, first.json()["changed"]) == (200, True)
    assert (again.status_code, again.json()["changed"]) == (200, False)
    pipeline = drive(pipeline)
    assert pipeline.outputs.count() == 1 and pipeline.total_cost == call.__class__.objects.get(pk=call.pk).cost


def test_it_refuses_an_unsigned_or_forged_webhook(provider, owner, settings, client):
    if not provider.webhooks:
        pytest.skip(f"{provider.name} sends no webhooks")
    settings.PUBLIC_BASE_URL = "https://i2v.example.com"
    provider.succeed(queue=0, progress=())
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    call = step.requests.get()
    headers, body = provider.webhook(call.external_id)
    url = f"/hooks/{provider.name}/{call.token}"

    assert client.post(url, body, content_type="application/json").status_code == 401
    forged = body.replace(b'"OK"', b'"ERROR"') if b'"OK"' in body else body + b" "
    assert client.post(url, forged, content_type="application/json", **_meta(headers)).status_code == 401
    assert client.post(f"/hooks/{provider.name}/not-a-token", body, content_type="application/json", **_meta(headers)).status_code == 404
    call.refresh_from_db()
    assert call.state in ("queued", "running")


def _meta(headers):
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def test_it_makes_a_small_png_for_the_fakes():
    assert png().startswith(b"\x89PNG")


# A path no request of ours can have: a JSON 404, no query, never a 500 (a NUL byte reached PostgreSQL).
@pytest.mark.parametrize(
    "path",
    ["/hooks/fal/%00", "/hooks/fal/a%00b", "/hooks/%00/x", "/hooks/fal/" + "x" * 5000, "/hooks/fal/é", "/hooks/FAL/x"],
)
def test_it_answers_a_path_no_request_can_have_with_a_json_404_and_no_query(client, db, path, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.post(path, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_it_looks_up_a_well_formed_token_it_does_not_know(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.post("/hooks/replicate/not-a-token", b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such request.", "field": None}}


def test_it_resumes_a_step_cancelled_at_the_provider_by_sending_it_once_more(provider, owner):
    if provider.synchronous:
        pytest.skip("a synchronous provider has nothing running to cancel")
    provider.succeed(queue=5)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    pipeline.cancel()
    pipeline.refresh_from_db()
    assert pipeline.resume_conflict() == Pipeline.STILL_STOPPING, "its request is still at the provider"
    check_due()  # the poller cancels it there

    pipeline.refresh_from_db()
    assert pipeline.resume_conflict() == "" and pipeline.resume_cost() == step.cost_estimate, "it may be billed again"
    provider.succeed()
    assert pipeline.resume() == 1
    pipeline = drive(pipeline)
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert provider.submissions == 2 and pipeline.outputs.count() == 1
    assert list(step.requests.order_by("attempt").values_list("state", flat=True)) == ["cancelled", "stored"]


def test_it_resumes_a_step_whose_paid_result_was_not_fetched_by_fetching_it(provider, owner):
    if provider.synchronous:
        pytest.skip("a synchronous provider's result comes with its answer: nothing is left to fetch")
    provider.succeed(queue=0, progress=())
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    for _ in range(10):  # the poller finds it done: the step is queued to fetch the file
        if pipeline.steps.filter(phase="fetch").exists():
            break
        pipeline.requests.update(next_check_at=timezone.now())
        check_due()
    pipeline.cancel()
    pipeline.refresh_from_db()

    assert pipeline.resume_cost() == 0, "it was paid for: fetching it costs nothing"
    assert pipeline.resume() == 1
    pipeline = drive(pipeline)
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert provider.submissions == 1 and pipeline.outputs.count() == 1
    assert pipeline.total_cost == bill(provider.model, step.config).total, "billed once"


@pytest.mark.parametrize("ending", ["failed", "unknown"])
def test_it_fences_off_a_worker_from_before_a_retry(provider, owner, settings, ending):
    if ending == "unknown" and provider.can_lookup:
        pytest.skip(f"{provider.name} finds a lost submission: it waits, not unknown")
    settings.PUBLIC_BASE_URL = ""  # no webhook to find a lost submission by
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    stale = Step.objects.claim(step.pk)  # a worker claims it (attempt 1), then stalls before sending it
    Step.objects.filter(pk=step.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert Step.objects.expire() == (1, 0), "its lease ran out: queued again"
    provider.refuse(422, message="image_url: unsupported image format") if ending == "failed" else provider.hang(seconds=2)
    run_step.run(step.pk)  # another worker runs it (attempt 2), and it ends for a person to retry
    step.refresh_from_db()
    assert step.status == ending
    pipeline.refresh_from_db()
    assert pipeline.retry_failed() == 1
    sent = provider.submissions

    provider.succeed()
    retried = Step.objects.claim(step.pk)
    assert retried.attempts == stale.attempts == 1, "the retry has a fresh set of attempts"
    with pytest.raises(Superseded):
        executor.run(stale)  # the stale worker wakes up: it sends nothing, and can't finish the retried run
    assert not stale.complete() and provider.submissions == sent
    assert not step.requests.filter(state="sending").exists()

    executor.run(retried)
    pipeline = drive(pipeline)
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert provider.submissions == sent + 1 and pipeline.outputs.count() == 1, "the retry was sent once"


# --- The database failing once the provider took a paid request ------------------------------------------------
# Submitted once, whatever fails after: the answer is written down once the database is back, or the request is
# taken up as an unknown outcome (found at the provider, or left to its owner), never sent again by itself.

DROPPED = OperationalError("server closed the connection unexpectedly")


def _breaks(monkeypatch, cls, name, error, times=1):
    """`cls.name` raises `error` its first `times` calls (the database lost at that moment), then works."""
    real = getattr(cls, name)
    calls = []

    def broken(self, *args, **kwargs):
        calls.append(self.pk)
        if len(calls) <= times:
            raise error
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, broken)
    return calls


def _carry_on(pipeline, rounds=3):
    """Whatever runs next, for a while: leases run out, backoffs end, the sweeper, the dispatcher, the workers
    and the poller all take their turn."""
    for _ in range(rounds):
        pipeline.steps.filter(status="running").update(leased_until=timezone.now() - timedelta(seconds=1))
        pipeline.steps.filter(status="queued").update(available_at=timezone.now())
        Step.objects.sweep()
        Step.objects.dispatch()
        drive(pipeline)
    pipeline.refresh_from_db()
    return pipeline


def _ends_found_or_unknown(provider, pipeline, step):
    assert provider.submissions == 1, "sent once, whatever happened since"
    if provider.can_lookup:
        # Found at the provider by the id we gave it, then followed to the end like any other.
        assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
        assert list(step.requests.values_list("state", "attempt")) == [("stored", 1)]
        assert pipeline.outputs.count() == 1 and pipeline.total_cost == bill(provider.model, step.config).total
    else:
        step.refresh_from_db()
        assert step.status == "unknown" and step.error.startswith("Outcome unknown"), step.error
        assert list(step.requests.values_list("state", "attempt")) == [("unknown", 1)]
        assert pipeline.status == "failed" and "1 outcome unknown" in pipeline.activity
        assert pipeline.retry_cost() == step.cost_estimate, "what a retry may cost is shown"


@pytest.mark.parametrize("point", ["accepted", "after"])
def test_it_records_a_taken_submission_once_the_database_is_back_and_never_sends_it_again(
    provider, owner, monkeypatch, point
):
    # The write of the answer itself, or the one after it: handing the step off (the step's files stored, when they
    # came with the answer).
    after = "finish" if provider.synchronous else "handed_off"
    cls, name = (RemoteRequest, "accepted") if point == "accepted" else (Step, after)
    calls = _breaks(monkeypatch, cls, name, DROPPED)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()

    outcome = run_step.run(step.pk)
    pipeline = _carry_on(pipeline)

    assert provider.submissions == 1, "sent once, whatever happened since"
    assert len(calls) == 2, "written on the second try"
    assert outcome == ("completed" if provider.synchronous else "submitted")
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert list(step.requests.values_list("state", "attempt")) == [("stored", 1)]
    assert provider.submissions == 1 and pipeline.outputs.count() == 1
    assert pipeline.total_cost == bill(provider.model, step.config).total


@pytest.mark.parametrize("error", [DROPPED, DatabaseError("connection dropped")], ids=["outage", "other"])
def test_it_leaves_a_taken_submission_it_could_not_record_to_the_sweeper_and_never_sends_it_again(
    provider, owner, monkeypatch, settings, error
):
    settings.PUBLIC_BASE_URL = ""  # no webhook to find it by
    settings.WORK_DB_WAIT_SECONDS = 0  # the database stays away longer than a worker waits
    _breaks(monkeypatch, RemoteRequest, "accepted", error, times=100)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()

    outcome = run_step.run(step.pk)
    left = Step.objects.values_list("status", "attempts", "requests__state").get(pk=step.pk)
    monkeypatch.undo()  # the database is back
    pipeline = _carry_on(pipeline)  # its lease runs out: the sweeper takes it up

    _ends_found_or_unknown(provider, pipeline, step)
    assert (outcome, left) == ("left to the sweeper", ("running", 1, "sending")), "not handed back as if unsent"


@pytest.mark.parametrize("left", ["sending", "taken"])
def test_it_takes_up_what_an_earlier_run_sent_instead_of_sending_it_again(provider, owner, monkeypatch, settings, left):
    """A step queued again with a request of an earlier run in flight (a version before this one handed it back
    when the database failed as the answer was written): its next run sends nothing."""
    if left == "taken" and provider.synchronous:
        pytest.skip("a synchronous provider's taken request is settled with its answer")
    settings.PUBLIC_BASE_URL = ""
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    if left == "sending":
        settings.WORK_DB_WAIT_SECONDS = 0
        _breaks(monkeypatch, RemoteRequest, "accepted", DROPPED, times=100)
        run_step.run(step.pk)
        monkeypatch.undo()
    else:
        run_step.run(step.pk)
    Step.objects.filter(pk=step.pk).update(status="queued", phase="submit", leased_until=None, available_at=timezone.now())

    outcome = run_step.run(step.pk)
    pipeline = _carry_on(pipeline)

    if left == "sending":
        _ends_found_or_unknown(provider, pipeline, step)
    else:
        assert provider.submissions == 1, "sent once, whatever happened since"
        assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
        assert list(step.requests.values_list("state", "attempt")) == [("stored", 1)]
    assert outcome == ("outcome unknown" if left == "sending" else "submitted")


def test_it_takes_up_a_request_left_sending_as_its_step_was_cancelled(provider, owner, monkeypatch, settings):
    """Its worker stopped in the call (here: it couldn't write the answer) as a person cancelled the step: nothing
    took the `sending` request up, and it held a provider place, and Resume ("still being stopped"), for good."""
    settings.PUBLIC_BASE_URL = ""
    settings.WORK_DB_WAIT_SECONDS = 0
    _breaks(monkeypatch, RemoteRequest, "accepted", DROPPED, times=100)
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    monkeypatch.undo()
    pipeline.cancel()
    check_due()
    assert pipeline.resume_conflict() == Pipeline.STILL_STOPPING, "a worker may still be in its call"

    made = timezone.now() - timedelta(seconds=settings.GENERATION_SENDING_GIVE_UP_SECONDS + 1)
    step.requests.update(created_at=made)
    for _ in range(5):  # the poller's next ticks: it takes the request up, looks for it, cancels it there
        check_due()
        pipeline.requests.filter(next_check_at__isnull=False).update(next_check_at=timezone.now())
    pipeline.refresh_from_db()

    assert provider.submissions == 1, "nothing is sent again by itself"
    assert not step.requests.in_flight().exists() and pipeline.resume_conflict() == ""
    step.refresh_from_db()
    assert step.status == "cancelled" and pipeline.status == "cancelled"
    if not provider.can_lookup:
        assert list(step.requests.values_list("state", flat=True)) == ["unknown"]
        assert step.error == f"Outcome unknown: {provider.name} may have run it; resuming may cost {step.cost_estimate} again."
    provider.succeed()
    assert pipeline.resume() == 1
    pipeline = drive(pipeline)
    assert pipeline.status == "completed" and pipeline.outputs.count() == 1, [s.error for s in pipeline.steps.all()]


@pytest.mark.parametrize("error", [DROPPED, DatabaseError("connection dropped")], ids=["outage", "other"])
def test_it_fetches_again_when_the_database_failed_as_the_result_was_stored(provider, owner, monkeypatch, error):
    if provider.synchronous:
        pytest.skip("a synchronous provider's result comes with its answer: nothing is left to fetch")
    provider.succeed(queue=0, progress=())
    pipeline = create(owner, provider.model)
    step = pipeline.steps.get()
    run_step.run(step.pk)
    calls = _breaks(monkeypatch, Step, "finish", error)

    pipeline = _carry_on(pipeline)

    assert len(calls) == 2, "stored on the second fetch"
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert provider.submissions == 1 and pipeline.outputs.count() == 1
    assert list(step.requests.values_list("state", "attempt")) == [("stored", 1)]
    assert pipeline.total_cost == bill(provider.model, step.config).total, "billed once"
