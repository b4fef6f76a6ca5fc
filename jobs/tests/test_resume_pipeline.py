"""POST /jobs/<id>/resume (the Resume button of the Jobs row menu and the pipeline's page; GET, its
confirmation page without JavaScript): a cancelled pipeline's stopped steps run on, what was done is kept."""

import re
from decimal import Decimal

from conftest import make_pipeline
from i2v.lib.idempotency import form_key
from jobs.models import Pipeline, Step
from jobs.remote import RemoteRequest
from jobs.tasks import run_step
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_pipeline_actions import create
from jobs.tests.test_tasks import I2V


def cancelled(owner, prompts=("a", "b"), **kwargs):
    """A pipeline cancelled once its first step made its image: the rest was stopped."""
    p = create(owner, prompts=list(prompts), **kwargs)
    run_step.run(p.steps.order_by("order").first().pk)
    p.cancel()
    p.refresh_from_db()
    return p


def post(client, pipeline, key=None, confirm=True, row=True):
    """Resume from the Jobs row menu (its button targets the row), or from the pipeline's page (`row` False)."""
    data = {"once": form_key() if key is None else key, **({"confirm": "1"} if confirm else {})}
    target = f"row-{pipeline.id}" if row else f"head-{pipeline.id}"
    return client.post(f"/jobs/{pipeline.id}/resume", data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)


def statuses(pipeline):
    return list(pipeline.steps.order_by("order").values_list("status", flat=True))


def test_it_resumes_the_cancelled_steps_and_redraws_the_row(owner_client, owner, sent, django_capture_on_commit_callbacks):
    p = cancelled(owner)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, p)
    assert response.status_code == 200 and "<b>running</b>" in response.content.decode()
    assert statuses(p) == ["completed", "queued"]
    assert sent == [("dispatch", None)], "the dispatcher sends it"
    assert run_queued(p).status == "completed" and p.outputs.count() == 2


def test_it_reloads_the_pipelines_page_or_goes_back_to_it_without_javascript(owner_client, owner):
    p = cancelled(owner)
    response = post(owner_client, p, row=False)
    assert (response.status_code, response["HX-Refresh"]) == (200, "true")
    q = cancelled(owner)
    response = owner_client.post(f"/jobs/{q.id}/resume", {"confirm": "1", "once": form_key()}, follow=True)
    assert response.redirect_chain == [(f"/jobs/{q.id}/", 302)]
    assert "Resuming 1 step of “Run”." in response.content.decode()
    assert statuses(q) == ["completed", "queued"]


def test_it_asks_above_the_threshold_with_what_it_may_cost(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0.05"
    p = cancelled(owner, prompts=("a", "b", "c"))
    Step.objects.filter(pipeline=p, status="cancelled").update(cost_estimate=Decimal("0.04"))

    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    form = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/resume".*?</form>', html, re.S).group()
    assert "Resume (up to $0.08)" in form
    assert 'hx-confirm="Resume “Run”? Its cancelled steps run on; what was done is kept. Each sent to its provider again may be billed again: up to $0.08."' in form
    assert '<input type="hidden" name="confirm" value="1">' not in form, "htmx adds it once asked"

    refused = owner_client.post(f"/jobs/{p.id}/resume", {"once": form_key()}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "Resuming may cost up to $0.08; confirm to go ahead." in refused.content.decode()
    assert statuses(p) == ["completed", "cancelled", "cancelled"], "nothing resumed, nothing billed"
    assert post(owner_client, p).status_code == 200
    assert statuses(p) == ["completed", "queued", "queued"]


def test_it_asks_on_a_confirmation_page_without_javascript_and_get_does_nothing(owner_client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "-1"
    p = cancelled(owner)
    Pipeline.objects.filter(pk=p.pk).update(name="<b>Mine</b>")
    response = owner_client.post(f"/jobs/{p.id}/resume", {"once": form_key()})  # a plain form, not asked yet
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{p.id}/resume")
    page = owner_client.get(f"/jobs/{p.id}/resume")
    html = page.content.decode()
    assert page.status_code == 200 and "<h1>Resume the pipeline</h1>" in html
    assert "Resume “&lt;b&gt;Mine&lt;/b&gt;”? Its cancelled steps run on; what was done is kept." in html
    assert statuses(p) == ["completed", "cancelled"]
    key = re.search(r'name="once" value="([^"]+)"', html).group(1)
    assert owner_client.post(f"/jobs/{p.id}/resume", {"confirm": "1", "once": key}).status_code == 302
    assert statuses(p) == ["completed", "queued"]


def test_it_resumes_once_however_often_the_form_is_sent(owner_client, owner):
    p = cancelled(owner, prompts=("a", "b", "c"))
    key = form_key()
    assert post(owner_client, p, key).status_code == 200
    p.cancel()  # cancelled again since: the same form must not resume it a second time
    again = post(owner_client, p, key)
    assert again.status_code == 409 and "was already resumed from this form" in again.content.decode()
    assert statuses(p) == ["completed", "cancelled", "cancelled"]
    assert post(owner_client, p, key="").status_code == 400, "a form with no key of ours is out of date"
    assert post(owner_client, p).status_code == 200, "a fresh form resumes"


def test_it_says_why_when_there_is_nothing_to_resume(owner_client, owner):
    running = create(owner, prompts=["a"])
    response = post(owner_client, running)
    assert response.status_code == 409 and response["HX-Reswap"] == "none"
    assert "“Run” is running: only a cancelled pipeline can be resumed." in response.content.decode()
    assert statuses(running) == ["queued"]

    p = cancelled(owner)
    assert post(owner_client, p).status_code == 200
    Pipeline.objects.filter(pk=p.pk).update(status="cancelled")  # a page older than the pipeline: another tab resumed it
    response = post(owner_client, p)
    assert response.status_code == 409 and Pipeline.NOTHING_TO_RESUME in response.content.decode()
    page = owner_client.get(f"/jobs/{p.id}/resume")
    assert page.status_code == 409 and Pipeline.NOTHING_TO_RESUME in page.content.decode()


def test_it_waits_while_a_request_is_still_being_stopped_at_the_provider(owner_client, owner):
    p = cancelled(owner)
    step = p.steps.get(status="cancelled")
    RemoteRequest.objects.create(step=step, owner=owner, pipeline=p, provider="fal", model="flux-kontext", token="t", state="running")
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    assert f'<small class="blocked" id="resume-blocked-{p.id}">{Pipeline.STILL_STOPPING}</small>' in html
    response = post(owner_client, p)
    assert response.status_code == 409 and "still being stopped" in response.content.decode()
    assert statuses(p) == ["completed", "cancelled"]


def test_it_offers_resume_disabled_with_the_reason_once_its_sources_were_deleted(owner_client, owner):
    p = cancelled(owner)
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    form = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/resume".*?</form>', html, re.S).group()
    assert f'<button data-action="resume" disabled aria-describedby="resume-blocked-{p.id}">' in form
    assert "The images its cancelled steps start from were deleted from your library" in html
    response = post(owner_client, p)
    assert response.status_code == 422 and "so resuming them would fail" in response.content.decode()
    assert statuses(p) == ["completed", "cancelled"]


def test_it_offers_resume_disabled_with_the_reason_where_the_provider_has_no_key(owner_client, owner, settings):
    p = cancelled(owner, prompts=("a",), i2v={**I2V, "model": "kling-2.1"})
    settings.FAL_KEY = ""
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    form = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/resume".*?</form>', html, re.S).group()
    assert f'<button data-action="resume" disabled aria-describedby="blocked-{p.id}">' in form, "the rerun's reason, said once"
    response = post(owner_client, p)
    assert response.status_code == 422 and "FAL_KEY" in response.content.decode()


def test_it_refuses_past_the_steps_in_flight_quota(owner_client, owner, settings):
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 2
    p = cancelled(owner, prompts=("a", "b", "c", "d"))  # 3 to resume
    response = post(owner_client, p)
    assert response.status_code == 429 and "at most 2 may be in flight" in response.content.decode()
    assert statuses(p) == ["completed", "cancelled", "cancelled", "cancelled"]
    response = owner_client.post(f"/jobs/{p.id}/resume", {"confirm": "1", "once": form_key()}, follow=True)
    assert "at most 2 may be in flight" in response.content.decode(), "said on the page without JavaScript"


def test_it_offers_resume_on_a_cancelled_pipeline_only(owner_client, owner):
    running = create(owner)
    failed = create(owner)
    Pipeline.objects.filter(pk=failed.pk).update(status="failed")
    for p in (running, failed):
        assert f"/jobs/{p.id}/resume" not in owner_client.get(f"/jobs/{p.id}/menu").content.decode()
        assert f"/jobs/{p.id}/resume" not in owner_client.get(f"/jobs/{p.id}/").content.decode()
    p = cancelled(owner)
    menu = owner_client.get(f"/jobs/{p.id}/menu").content.decode()
    assert f'hx-post="/jobs/{p.id}/resume" method="post" hx-target="#row-{p.id}"' in menu
    assert f"/jobs/{p.id}/rerun" in menu, "a rerun, starting it all again, is still offered beside it"
    page = owner_client.get(f"/jobs/{p.id}/").content.decode()
    assert f'hx-post="/jobs/{p.id}/resume" method="post" hx-swap="none"' in page


def test_it_is_a_404_for_someone_elses_pipeline(client, owner, other):
    p = cancelled(owner)
    client.force_login(other)
    assert post(client, p).status_code == 404
    assert client.get(f"/jobs/{p.id}/resume").status_code == 404
    assert statuses(p) == ["completed", "cancelled"]
    client.force_login(owner)
    assert post(client, p).status_code == 200, "its owner may"


def test_it_keeps_the_menu_and_the_page_of_a_cancelled_pipeline_to_their_queries(owner_client, owner, django_assert_num_queries):
    for prompts in (2, 40):
        p = cancelled(owner, prompts=[f"p{n}" for n in range(prompts)])
        # The menu: the pipeline; resume_cost() (the estimate of the steps it sends again; outside checkpoint
        # mode no review to check, and no stage left to make once the first exists); resume_conflict() (any
        # cancelled step, then the first of its plan's three); the cancelled steps' sources and whether one is
        # still there; the rerun's sources. unrunnable() asks nothing: the stages name their models.
        # The page: the same, less the pipeline read by the menu, plus the pipeline with its tags, the step
        # summary, a page of steps, of outputs and their assets, and the quick tags.
        with django_assert_num_queries(MENU_QUERIES, info="the menu must not load the steps one by one"):
            assert owner_client.get(f"/jobs/{p.id}/menu").status_code == 200
        with django_assert_num_queries(PAGE_QUERIES, info="the page must not load the steps one by one"):
            assert owner_client.get(f"/jobs/{p.id}/").status_code == 200


MENU_QUERIES = 7
PAGE_QUERIES = 12
