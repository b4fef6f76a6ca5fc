"""A big pipeline's expanded row in a real browser: its summary, failures first, and the rest of its
steps a click away (jobs/detail.py, pipeline_detail.html#steps), through htmx."""

import re

import pytest
from playwright.sync_api import expect

from conftest import make_big_pipeline, make_pipeline
from i2v.testing.browser import page_without_javascript
from jobs.models import Pipeline, Step
from jobs.tasks import run_step
from jobs.tests.conftest import run_queued
from jobs.tests.test_pipeline_actions import create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_shows_failures_first_then_every_step_by_more_links(owner_page, owner):
    big = make_big_pipeline(owner, images=30, videos=30, failed=3, outputs=5, name="Big run")
    page = owner_page.page
    owner_page.goto("/jobs/")
    page.locator(f"#row-{big.id} button[aria-expanded]").click()
    detail = page.locator(f"#row-{big.id} + tr.detail")
    rows = detail.locator("table.steps tbody tr[data-step]")
    expect(detail.locator(".step-summary")).to_contain_text("30 × video: 3 failed, 27 completed")
    expect(rows).to_have_count(3)  # the failures first

    detail.get_by_role("link", name="show all").click()
    expect(rows).to_have_count(20)
    detail.get_by_role("link", name="Show more steps").click()
    expect(rows).to_have_count(40)
    detail.get_by_role("link", name="Show more steps").click()
    expect(rows).to_have_count(60)
    expect(detail.get_by_role("link", name="Show more steps")).to_have_count(0)
    expect(page.locator(f"#row-{big.id}")).to_be_visible()  # the row itself was never swapped away
    owner_page.assert_no_console_errors()


def test_it_shows_a_pipeline_at_work_progress_until_it_is_done(owner_page, owner):
    pipeline = make_pipeline(owner, name="At work", outputs=0, steps=2, status="running")
    pipeline.steps.update(status="running")
    page = owner_page.page
    owner_page.goto(f"/jobs/{pipeline.id}/")
    summary = page.locator(".step-summary")
    expect(summary).to_contain_text("2 × image: 2 running")
    pipeline.steps.filter(order=0).update(status="completed")
    expect(summary).to_contain_text("1 running, 1 completed")  # no reload
    badge = page.get_by_test_id("pipeline-state").locator(".badge")
    expect(badge).to_have_text("Running")
    pipeline.steps.update(status="completed")
    type(pipeline).objects.filter(pk=pipeline.pk).update(status="completed")
    expect(summary).to_contain_text("2 × image: 2 completed")
    expect(badge).to_have_text("Completed")
    expect(page.locator(".detail-body[data-live]")).to_have_count(0)  # done: it stops asking
    asked = owner_page.count(f"/jobs/{pipeline.id}/")
    page.wait_for_timeout(3_500)
    assert owner_page.count(f"/jobs/{pipeline.id}/") == asked
    owner_page.assert_no_console_errors()


def test_it_cancels_then_retries_from_the_pipelines_own_page(owner_page, owner, provider_keys):
    pipeline = make_pipeline(owner, name="Mine", outputs=0, steps=2, status="running")
    page = owner_page.page
    owner_page.goto(f"/jobs/{pipeline.id}/")
    actions = page.get_by_test_id("pipeline-actions")
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel “Mine”? Running steps stop; ..."
    actions.get_by_role("button", name="Cancel").click()
    badge = page.get_by_test_id("pipeline-state").locator(".badge")
    expect(badge).to_have_text("Cancelled")  # the page reloaded
    expect(actions.get_by_role("button", name="Cancel")).to_have_count(0)
    assert set(pipeline.steps.values_list("status", flat=True)) == {"cancelled"}

    pipeline.steps.update(status="failed", error="The provider said no.")
    type(pipeline).objects.filter(pk=pipeline.pk).update(status="failed")
    page.reload()
    actions.get_by_role("button", name="Retry failed steps").click()  # free here: it asks nothing
    expect(badge).to_have_text("Running")
    assert set(pipeline.steps.values_list("status", flat=True)) == {"queued"}
    owner_page.assert_no_console_errors()


def test_it_cancels_a_running_pipeline_then_resumes_only_what_was_stopped_from_its_page(owner_page, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "-1"  # resuming asks, as a paid one does
    pipeline = create(owner, prompts=["a", "b", "c"])
    run_step.run(pipeline.steps.order_by("order").first().pk)  # one image made; two steps still queued
    done = pipeline.steps.get(status="completed")
    page = owner_page.page
    asked = []
    page.on("dialog", lambda dialog: asked.append(dialog.message) or dialog.accept())
    owner_page.goto(f"/jobs/{pipeline.id}/")
    actions = page.get_by_test_id("pipeline-actions")
    badge = page.get_by_test_id("pipeline-state").locator(".badge")
    expect(badge).to_have_text("Running")
    expect(actions.locator("[data-action=resume]")).to_have_count(0)  # nothing to resume while it runs

    actions.get_by_role("button", name="Cancel").click()
    expect(badge).to_have_text("Cancelled")  # the page reloaded
    assert sorted(pipeline.steps.values_list("status", flat=True)) == ["cancelled", "cancelled", "completed"]

    actions.locator("[data-action=resume]").click()
    expect(badge).to_have_text("Running")
    assert asked[-1] == "Resume “Run”? Its cancelled steps run on; what was done is kept. Each sent to its provider again may be billed again: Free."
    assert sorted(pipeline.steps.values_list("status", flat=True)) == ["completed", "queued", "queued"]
    expect(actions.locator("[data-action=resume]")).to_have_count(0)

    run_queued(pipeline)  # the workers run what was resumed
    page.reload()
    expect(badge).to_have_text("Completed")
    assert pipeline.outputs.count() == 3
    assert pipeline.steps.get(pk=done.pk).finished_at == done.finished_at, "the step done before the cancel was not run again"
    owner_page.assert_no_console_errors()


def test_it_redraws_an_expanded_row_at_work_but_not_a_collapsed_one_nor_one_worked_in(owner_page, owner):
    pipeline = make_big_pipeline(owner, images=30, videos=30, failed=0, outputs=0, name="Big at work")
    pipeline.steps.filter(kind="i2v").update(status="running")
    page = owner_page.page
    owner_page.goto("/jobs/")
    expand = page.locator(f"#row-{pipeline.id} button[aria-expanded]")
    expand.click()
    detail = page.locator(f"#row-{pipeline.id} + tr.detail")
    expect(detail.locator(".step-summary")).to_contain_text("30 × video: 30 running")
    pipeline.steps.filter(kind="i2v", order__lt=40).update(status="completed")
    expect(detail.locator(".step-summary")).to_contain_text("20 running, 10 completed")

    expand.click()  # collapsed: no one sees it, so it isn't asked for
    page.wait_for_timeout(500)
    asked = owner_page.count(f"/jobs/{pipeline.id}/")
    page.wait_for_timeout(3_500)
    assert owner_page.count(f"/jobs/{pipeline.id}/") == asked

    expand.click()
    detail.get_by_role("link", name="20 running").click()  # a filter the person chose stays: no redraw over it
    expect(detail.locator("table.steps tbody tr[data-step]")).to_have_count(20)
    expect(detail.locator(".step-filter")).to_contain_text("Showing 20 running")
    page.wait_for_timeout(500)
    asked = owner_page.count(f"/jobs/{pipeline.id}/")
    pipeline.steps.filter(kind="i2v").update(status="completed")
    page.wait_for_timeout(3_500)
    assert owner_page.count(f"/jobs/{pipeline.id}/") == asked
    owner_page.assert_no_console_errors()


def test_it_loads_three_rows_expanded_one_after_the_other(owner_page, owner):
    # The first expansion's answer held back while the others are asked for: every one comes.
    rows = [make_pipeline(owner, name=f"P{i}", outputs=1, steps=1) for i in range(3)]
    for pipeline in rows:
        pipeline.steps.update(status="completed")
    page = owner_page.page
    held = owner_page.hold_first("**/jobs/*/")
    owner_page.goto("/jobs/")
    for pipeline in rows:
        page.locator(f"#row-{pipeline.id} button[aria-expanded]").click()
    for pipeline in rows:
        expect(page.locator(f"#row-{pipeline.id} + tr.detail .step-summary")).to_contain_text("1 × image: 1 completed")
    assert len(held) == 1
    owner_page.assert_no_console_errors()


@pytest.mark.parametrize("width", [1400, 390])
def test_it_wraps_long_unbroken_text_on_the_pipelines_page_instead_of_widening_it(owner_page, owner, width):
    pipeline = make_pipeline(owner, name="L" * 200, description="d" * 3000, prompt="p" * 500, outputs=0, steps=2)
    pipeline.steps.update(error="e" * 500)
    page = owner_page.page
    page.set_viewport_size({"width": width, "height": 900})
    owner_page.goto(f"/jobs/{pipeline.id}/")
    expect(page.locator("table.steps tbody tr[data-step]")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    owner_page.assert_no_console_errors()


@pytest.mark.parametrize("width", [1400, 390])
def test_it_wraps_a_long_name_and_keeps_the_all_jobs_link_on_one_line(owner_page, owner, width):
    pipeline = make_pipeline(owner, name="A rather long pipeline name " * 6, outputs=0, steps=1)
    page = owner_page.page
    page.set_viewport_size({"width": width, "height": 900})
    owner_page.goto(f"/jobs/{pipeline.id}/")
    link, title = page.get_by_role("link", name="← All jobs"), page.locator(".page-head h1")
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.page-head > a')).lineHeight)")
    assert link.bounding_box()["height"] < 1.5 * line  # one line (it was three at 1400 px)
    assert title.bounding_box()["height"] > 2 * line  # the title wraps instead
    owner_page.assert_no_console_errors()


def test_it_shows_each_step_readable_on_a_phone(owner_page, owner):
    pipeline = make_pipeline(owner, name="Phone", prompt="a slow pan across a foggy harbour at dawn, " * 3, outputs=0, steps=3)
    pipeline.steps.filter(order=1).update(status="failed", error="The provider refused the request: the image is too large.")
    page = owner_page.page
    page.set_viewport_size({"width": 390, "height": 844})
    owner_page.goto(f"/jobs/{pipeline.id}/")
    failed = page.locator("table.steps tr[data-step][data-status=failed]")
    prompt, cost, error = (failed.locator(f"td.{part}") for part in ("prompt-cell", "cost", "error"))
    assert prompt.bounding_box()["width"] > 300  # its own line (it was squeezed to about a letter)
    for cell in (prompt, cost, error):
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, cell  # nothing cut off at the right
    expect(error).to_be_visible()
    assert page.evaluate("document.querySelector('.detail-body').scrollWidth <= document.querySelector('.detail-body').clientWidth")
    page.set_viewport_size({"width": 1400, "height": 900})
    expect(page.locator("table.steps thead")).to_be_visible()  # a wide screen keeps the table
    owner_page.assert_no_console_errors()


def test_it_does_what_the_row_menu_does_from_the_pipelines_own_page(owner_page, owner):
    pipeline = make_pipeline(owner, name="Mine", outputs=1, steps=1, tags=["portrait"])
    make_pipeline(owner, tags=["client-acme"])  # a quick tag to offer
    page = owner_page.page
    owner_page.goto(f"/jobs/{pipeline.id}/")
    page.evaluate("window.notReloaded = true")
    manage = page.get_by_test_id("pipeline-manage")
    manage.get_by_role("button", name="Favourite").click()
    expect(manage.get_by_role("button", name="Favourite")).to_have_attribute("aria-pressed", "true")

    manage.get_by_text("Tags…").click()
    manage.get_by_role("button", name="+ client-acme").click()
    tags = page.locator(".pipeline-tags")
    expect(tags).to_contain_text("client-acme")
    tags.get_by_role("button", name="Remove tag portrait").click()
    expect(tags.locator(".tag")).to_have_text(["client-acme×"])

    manage.get_by_text("Rename").click()
    manage.get_by_label("New name").fill("Renamed <here>")
    manage.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Renamed <here>")
    expect(page).to_have_title("Renamed <here> · i2v")

    manage.get_by_role("button", name="Hide").click()
    expect(manage.get_by_test_id("hidden-note")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True  # each redrew the head alone
    pipeline.refresh_from_db()
    assert (pipeline.is_favorite, pipeline.is_hidden, pipeline.name) == (True, True, "Renamed <here>")

    manage.get_by_text("Delete…").click()
    expect(manage.get_by_text("This cannot be undone.")).to_be_visible()  # asked first
    manage.get_by_role("button", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))
    expect(page.locator(".messages")).to_have_text("Deleted “Renamed <here>”.")
    assert not Pipeline.objects.filter(pk=pipeline.pk).exists()
    owner_page.assert_no_console_errors()


def test_it_does_them_without_javascript_too(browser, live_server, client, owner):
    pipeline = make_pipeline(owner, name="Plain", outputs=0, steps=1)
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.goto(f"{live_server.url}/jobs/{pipeline.id}/")
        manage = page.get_by_test_id("pipeline-manage")
        manage.get_by_role("button", name="Favourite").click()  # a plain form, then the page again
        expect(manage.get_by_role("button", name="Favourite")).to_have_attribute("aria-pressed", "true")
        manage.get_by_text("Tags…").click()
        manage.get_by_label("Tag name").fill("NOT a tag!")
        manage.get_by_role("button", name="Add").click()
        expect(manage.locator(".tag-form .error")).to_contain_text("lowercase letters, digits and dashes")  # open, with why
        manage.get_by_label("Tag name").fill("plain-tag")
        manage.get_by_role("button", name="Add").click()
        expect(page.locator(".pipeline-tags")).to_contain_text("plain-tag")
        manage.get_by_text("Rename").click()
        manage.get_by_label("New name").fill("Plainer")
        manage.get_by_role("button", name="Save").click()
        expect(page.locator("h1")).to_have_text("Plainer")
        manage.get_by_text("Delete…").click()
        manage.get_by_role("button", name="Delete", exact=True).click()
        expect(page).to_have_url(re.compile(r"/jobs/$"))
        expect(page.locator(".messages")).to_have_text("Deleted “Plainer”.")


def _failed_run(owner, prompts=("a",)):
    """A failed pipeline of local models (free), recorded so it can be rerun; its sources really stored."""
    pipeline = create(owner, prompts=list(prompts))
    Step.objects.filter(pipeline=pipeline).update(status="failed", error="busy")
    pipeline.refresh_progress()
    return pipeline


def test_it_asks_before_cancelling_and_rerunning_even_for_free_from_the_pipelines_page(owner_page, owner, settings):
    pipeline = _failed_run(owner, prompts=("a", "b"))
    running = create(owner, prompts=["c"])
    page = owner_page.page
    asked, answers = [], []  # the dialogs' questions; False dismisses the next one
    page.on("dialog", lambda dialog: asked.append(dialog.message) or (dialog.accept() if (answers.pop(0) if answers else True) else dialog.dismiss()))

    owner_page.goto(f"/jobs/{running.id}/")
    actions = page.get_by_test_id("pipeline-actions")
    answers.append(False)
    actions.get_by_role("button", name="Cancel").click()
    assert asked == ["Cancel “Run”? Running steps stop; nothing more is charged."]
    assert set(running.steps.values_list("status", flat=True)) == {"queued"}
    actions.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("pipeline-state")).to_contain_text("Cancelled")  # the page reloaded
    assert set(running.steps.values_list("status", flat=True)) == {"cancelled"}

    owner_page.goto(f"/jobs/{pipeline.id}/")
    actions = page.get_by_test_id("pipeline-actions")
    answers.append(False)
    actions.get_by_role("button", name="Rerun as new").click()
    assert asked[-1] == "Run “Run” again as a new pipeline, with the same settings and seed? It plans 2 generations: Free."
    assert owner.pipelines.count() == 2
    actions.get_by_role("button", name="Retry failed steps").click()  # free: no question
    expect(page.get_by_test_id("pipeline-state")).to_contain_text("Running")
    assert len(asked) == 3 and set(pipeline.steps.values_list("status", flat=True)) == {"queued"}
    page.get_by_test_id("pipeline-actions").get_by_role("button", name="Rerun as new").click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))
    assert asked[-1] == "Run “Run” again as a new pipeline, with the same settings and seed? It plans 2 generations: Free."
    assert owner.pipelines.count() == 3
    owner_page.assert_no_console_errors()


def test_it_asks_on_a_page_of_its_own_without_javascript(browser, live_server, client, owner, settings):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "-1"  # every retry asks, as a paid one does
    pipeline = _failed_run(owner)
    running = create(owner, prompts=["c"])
    Pipeline.objects.filter(pk=running.pk).update(name="<b>Busy</b>")
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.goto(f"{live_server.url}/jobs/{running.id}/")
        page.get_by_test_id("pipeline-actions").get_by_role("button", name="Cancel").click()
        expect(page).to_have_url(re.compile(rf"/jobs/{running.id}/cancel$"))  # asked first: nothing done yet
        expect(page.get_by_test_id("confirm")).to_contain_text("Cancel “<b>Busy</b>”? Running steps stop; nothing more is charged.")
        assert set(running.steps.values_list("status", flat=True)) == {"queued"}
        page.reload()  # a GET does nothing
        page.get_by_test_id("confirm").get_by_role("button", name="Cancel the pipeline").click()
        expect(page).to_have_url(re.compile(rf"/jobs/{running.id}/$"))
        expect(page.locator(".messages")).to_have_text("Cancelled “<b>Busy</b>”: running steps stop, nothing more is charged.")
        assert set(running.steps.values_list("status", flat=True)) == {"cancelled"}

        page.goto(f"{live_server.url}/jobs/{pipeline.id}/")
        page.get_by_test_id("pipeline-actions").get_by_role("button", name="Retry failed steps").click()
        expect(page.get_by_test_id("confirm")).to_contain_text("Retry the failed and unknown steps of “Run”? Each may be billed again, with the stages it leads to: Free.")
        page.get_by_test_id("confirm").get_by_role("button", name="Retry failed steps").click()
        expect(page.locator(".messages")).to_have_text("Retrying 1 step of “Run”.")
        page.reload()  # the answer was a redirect: a reload GETs the page, sending nothing again
        expect(page.locator(".messages")).to_have_count(0)
        assert set(pipeline.steps.values_list("status", flat=True)) == {"queued"}

        page.get_by_test_id("pipeline-actions").get_by_role("button", name="Rerun as new").click()
        page.get_by_test_id("confirm").get_by_role("button", name="Rerun as new").click()
        expect(page).to_have_url(re.compile(r"/jobs/$"))
        expect(page.locator(".messages")).to_have_text("“Run” runs again as a new pipeline: 1 generation.")
        assert owner.pipelines.count() == 3

        page.goto(f"{live_server.url}/jobs/{pipeline.id}/")
        page.get_by_test_id("pipeline-actions").get_by_role("button", name="Rerun as new").click()
        confirm = page.get_by_test_id("confirm")
        expect(confirm).to_contain_text("Run “Run” again as a new pipeline, with the same settings and seed? It plans 1 generation: Free.")
        owner.assets.filter(pk__in=pipeline.config["sources"]).delete()  # meanwhile, in another tab
        confirm.get_by_role("button", name="Rerun as new").click()
        expect(page).to_have_url(re.compile(rf"/jobs/{pipeline.id}/$"))  # refused: said on the page, not a fragment
        expect(page.locator(".messages")).to_contain_text("1 of its 1 sources was deleted from your library")
        assert owner.pipelines.count() == 3
