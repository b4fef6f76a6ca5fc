from decimal import Decimal

import pytest
from django.core.cache import cache

from conftest import first_page_queries, make_pipeline
from i2v.lib.idempotency import form_key
from jobs.catalog import bill
from jobs.models import Pipeline, Step
from jobs.tasks import run_step
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import I2I, I2V, request


ONE_IMAGE = {**I2I, "images_per_prompt": 1}


def create(owner, **kwargs):
    """A pipeline of one image per prompt (two prompts by default: two steps)."""
    kwargs.setdefault("i2i", ONE_IMAGE)
    return Pipeline.objects.create_from_request(owner, request([make_source(owner)], **kwargs))


def post(client, pipeline, action):
    """An action from the Jobs row menu, whose buttons target the row (asked, as hx-confirm does; a fresh form's key)."""
    data = {"confirm": "1", "once": form_key()}
    return client.post(f"/jobs/{pipeline.id}/{action}", data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"row-{pipeline.id}")


def test_it_cancels_waiting_and_running_steps(owner_client, owner):
    p = create(owner)
    running, queued = p.steps.order_by("order")
    Step.objects.filter(pk=running.pk).update(status="running", attempts=1)
    response = post(owner_client, p, "cancel")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id=row-{p.id}>' in html and "<b>cancelled</b>" in html
    assert set(p.steps.values_list("status", flat=True)) == {"cancelled"}
    p.refresh_from_db()
    assert p.status == "cancelled"


def test_it_stops_watching_a_cancelled_row(owner_client, owner):
    p = create(owner)
    html = post(owner_client, p, "cancel").content.decode()
    assert "<b>cancelled</b>" in html and "data-watch" not in html


def test_it_retries_failed_steps(owner_client, owner, sent, django_capture_on_commit_callbacks):
    p = create(owner, prompts=["a"])
    Step.objects.filter(pipeline=p).update(status="failed", attempts=3, error="busy")
    p.refresh_progress()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, p, "retry")
    assert response.status_code == 200 and "<b>running</b>" in response.content.decode()
    step = p.steps.get()
    assert (step.status, step.attempts, step.error) == ("queued", 0, "")
    assert sent == [("dispatch", None)], "the dispatcher sends it"
    assert run_queued(p).status == "completed"


def test_it_says_when_there_is_nothing_to_retry(owner_client, owner):
    # A page older than the pipeline (another tab retried it, or it was cancelled): a toast, the row left be.
    p = create(owner, prompts=["a"])
    p.cancel()
    response = post(owner_client, p, "retry")
    assert response.status_code == 422 and response["HX-Reswap"] == "none"
    assert "Nothing to retry" in response.content.decode()
    assert list(p.steps.values_list("status", flat=True)) == ["cancelled"]


def test_it_starts_the_video_stage_once_retried_images_succeed(owner, monkeypatch):
    p = create(owner, prompts=["a", "b"], i2v=I2V)
    first, second = p.steps.order_by("order")
    Step.objects.filter(pk=second.pk).update(status="failed")
    run_queued(p)
    assert not p.steps.filter(kind="i2v").exists() and p.status == "failed"
    p.retry_failed()
    assert run_queued(p).status == "completed"
    assert p.steps.filter(kind="i2v", status="completed").count() == 2


@pytest.mark.parametrize("mode", ["auto", "checkpoint"])
def test_it_counts_in_a_retrys_cost_the_videos_it_makes_unasked(owner, provider_keys, mode):
    p = create(owner, prompts=["a", "b"], i2v={**I2V, "model": "kling-2.1"}, mode=mode)
    first, second = p.steps.order_by("order")
    run_step.run(first.pk)
    Step.objects.filter(pk=second.pk).update(status="failed", cost_estimate=Decimal("0.04"))
    p.refresh_progress()
    video = bill("kling-2.1", p.config["i2v"]).total
    # Once the image is made the video stage is made from both (one each) and run, unless a checkpoint holds it.
    assert p.retry_cost() == Decimal("0.04") + (2 * video if mode == "auto" else 0)

    Step.objects.filter(pk=first.pk).update(status="cancelled")  # an image that never completes: no videos are made
    assert p.retry_cost() == Decimal("0.04")


def test_it_approves_a_stage_under_review(owner_client, owner):
    p = run_queued(create(owner, prompts=["a"], i2v=I2V, mode="checkpoint"))
    assert p.status == "paused"
    menu = owner_client.get(f"/jobs/{p.id}/menu").content.decode()
    assert f"/jobs/{p.id}/approve" in menu
    response = post(owner_client, p, "approve")
    assert "<b>running</b>" in response.content.decode()
    assert set(p.steps.filter(kind="i2v").values_list("status", flat=True)) == {"queued"}
    assert run_queued(p).status == "completed"


def test_it_reruns_as_a_new_pipeline(owner_client, owner):
    p = run_queued(create(owner, tags=["keep"]))
    response = post(owner_client, p, "rerun")
    assert response["HX-Redirect"] == "/jobs/"
    again = owner.pipelines.exclude(pk=p.pk).get()
    assert (again.name, again.config, again.status) == (p.name, p.config, "running")
    assert [t.name for t in again.tags.all()] == ["keep"]
    assert again.steps.count() == 2 and p.steps.count() == 2


def test_it_explains_why_a_pipeline_without_settings_cant_rerun(owner_client, owner):
    legacy = make_pipeline(owner, status="completed")  # made before pipelines recorded their config
    response = post(owner_client, legacy, "rerun")
    assert response.status_code == 422 and "no recorded settings" in response.content.decode()
    assert owner.pipelines.count() == 1


def test_it_refuses_to_rerun_when_a_source_was_deleted(owner_client, owner):
    p = create(owner)
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = post(owner_client, p, "rerun")
    assert response.status_code == 422
    assert f"{len(p.config['sources'])} of its {len(p.config['sources'])} sources" in response.content.decode()
    assert "deleted from your library: start a New pipeline from other images instead." in response.content.decode()
    assert owner.pipelines.count() == 1


def test_it_refuses_to_retry_steps_whose_sources_were_deleted(owner_client, owner):
    p = create(owner, prompts=["a"])
    Step.objects.filter(pipeline=p).update(status="failed", error="timed out")
    p.refresh_progress()
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = post(owner_client, p, "retry")
    assert response.status_code == 422 and "The images its failed steps start from were deleted" in response.content.decode()
    assert set(p.steps.values_list("status", flat=True)) == {"failed"}


def test_it_refuses_to_rerun_or_retry_where_a_stage_s_provider_has_no_key(owner_client, owner, settings):
    # Made while fal had a key; the key is gone: every step would fail before it is sent.
    p = create(owner, prompts=["a"], i2v={**I2V, "model": "kling-2.1"})
    Step.objects.filter(pipeline=p).update(status="failed", error="fal.ai is not configured")
    p.refresh_progress()
    settings.FAL_KEY = ""
    for action in ("rerun", "retry"):
        response = post(owner_client, p, action)
        assert response.status_code == 422, action
        assert "fal.ai is not configured: set the FAL_KEY environment variable" in response.content.decode()
    assert owner.pipelines.count() == 1 and list(p.steps.values_list("status", flat=True)) == ["failed"]
    settings.FAL_KEY = "a-key"
    assert post(owner_client, p, "retry").status_code == 200
    assert list(p.steps.values_list("status", flat=True)) == ["queued"]


def test_it_refuses_to_retry_a_step_whose_provider_has_no_key_in_a_pipeline_without_stages(owner_client, owner, settings):
    settings.OPENAI_API_KEY = ""
    legacy = make_pipeline(owner, status="failed")  # imported or seeded: its steps, no recorded stages
    legacy.steps.update(status="failed", config={"model": "gpt-image-1", "prompt": "p"})
    response = post(owner_client, legacy, "retry")
    assert response.status_code == 422 and "OpenAI is not configured" in response.content.decode()
    assert set(legacy.steps.values_list("status", flat=True)) == {"failed"}


def test_it_offers_the_actions_that_fit_the_status(owner_client, owner):
    running = create(owner)
    menu = owner_client.get(f"/jobs/{running.id}/menu").content.decode()
    assert f"/jobs/{running.id}/cancel" in menu and f"/jobs/{running.id}/retry" not in menu
    failed = create(owner)
    Pipeline.objects.filter(pk=failed.pk).update(status="failed")
    menu = owner_client.get(f"/jobs/{failed.id}/menu").content.decode()
    assert f"/jobs/{failed.id}/retry" in menu and f"/jobs/{failed.id}/rerun" in menu
    assert f"/jobs/{failed.id}/cancel" not in menu
    failed.cancel()  # nothing failed: nothing to retry, a rerun instead
    menu = owner_client.get(f"/jobs/{failed.id}/menu").content.decode()
    assert f"/jobs/{failed.id}/retry" not in menu and f"/jobs/{failed.id}/rerun" in menu
    legacy = make_pipeline(owner, status="failed")  # no recorded settings (made before New pipeline, or imported)
    menu = owner_client.get(f"/jobs/{legacy.id}/menu").content.decode()
    assert f"/jobs/{legacy.id}/retry" in menu and f"/jobs/{legacy.id}/rerun" not in menu


def test_it_offers_the_same_actions_on_the_pipeline_page_and_reloads_it(owner_client, owner):
    running = create(owner)
    actions = _page_actions(owner_client, running)
    assert f'hx-post="/jobs/{running.id}/cancel"' in actions and f'hx-post="/jobs/{running.id}/rerun"' in actions
    assert "/retry" not in actions and "hx-target" not in actions  # nothing to redraw in place: the page reloads
    response = owner_client.post(f"/jobs/{running.id}/cancel", HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Refresh"]) == (200, "true")
    assert set(running.steps.values_list("status", flat=True)) == {"cancelled"}
    assert "/cancel" not in _page_actions(owner_client, running)

    failed = create(owner, prompts=["a"])
    Step.objects.filter(pipeline=failed).update(status="failed", cost_estimate="0.04")
    failed.refresh_progress()
    assert "Retry failed steps (up to $0.04)" in _page_actions(owner_client, failed)
    response = owner_client.post(f"/jobs/{failed.id}/retry", {"confirm": "1", "once": form_key()})  # without JavaScript: back to the page
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{failed.id}/")
    assert list(failed.steps.values_list("status", flat=True)) == ["queued"]


def _page_actions(client, pipeline):
    html = client.get(f"/jobs/{pipeline.id}/").content.decode()
    start = html.index('data-testid="pipeline-actions"')
    return html[start : html.index("</div>", start)]


def test_it_shows_progress_on_an_active_row(owner_client, owner):
    p = create(owner)
    run_step.run(p.steps.order_by("order").first().pk)
    html = owner_client.get(f"/jobs/{p.id}/row", HTTP_HX_REQUEST="true").content.decode()
    assert "<progress value=1 max=2></progress><small>1/2 done · 1 queued</small>" in html


def test_it_is_a_404_for_someone_elses_pipeline(client, owner, other):
    p = create(owner)
    client.force_login(other)
    for action in ("cancel", "retry", "approve", "rerun"):
        assert post(client, p, action).status_code == 404
    assert p.steps.filter(status="queued").count() == 2


def test_it_does_nothing_on_get_or_head(owner_client, owner):
    # GET is a plain form's confirmation page (test_confirm_action.py); approve has none.
    p = create(owner)
    for method in (owner_client.get, owner_client.head):
        assert method(f"/jobs/{p.id}/cancel").status_code == 200
    assert owner_client.get(f"/jobs/{p.id}/approve").status_code == 405
    assert p.steps.filter(status="queued").count() == 2


def test_it_keeps_the_jobs_list_query_count_with_running_pipelines(owner_client, owner, django_assert_num_queries):
    for _ in range(3):
        run_step.run(create(owner).steps.first().pk)
    with django_assert_num_queries(first_page_queries()):
        html = owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content.decode()
    # Progress comes from the pipeline's own columns, not a count per row.
    assert html.count("<progress value=1 max=2>") == 3


def test_it_adds_little_to_a_running_row_for_its_progress(owner_client, owner):
    def page_bytes():
        return len(owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content)

    for _ in range(20):
        make_pipeline(owner, status="running", tags=["portrait"])
    without = page_bytes()
    owner.pipelines.update(planned_steps=1200, progress_done=777)
    cache.clear()  # update() sends no signal, so the cached list would still be served
    html = owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count("<progress value=777 max=1200></progress><small>777/1200 done</small>") == 20
    # The Jobs fragment is budgeted in bytes (20 rows <= 15 KB): progress may cost 75 a row, even at 4-digit counts.
    assert page_bytes() - without <= 20 * 75


def test_it_counts_reruns_against_the_pipeline_creation_limit(owner_client, owner, settings):
    # A day's window: none ends between these requests (a minute's did once, in CI).
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pipelines": "1/86400"}
    p = run_queued(create(owner))
    assert post(owner_client, p, "rerun").status_code == 200
    refused = post(owner_client, p, "rerun")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert owner.pipelines.count() == 2
