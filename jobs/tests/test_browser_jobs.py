"""The Jobs page in a real browser: infinite scroll, expanding rows, row actions,
filters with history, bulk actions and polling, through htmx and static/js/app.js.

Each test is one flow a user goes through; every one ends with no console errors.
"""

import datetime
import re

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from conftest import make_pipeline
from i2v.testing.browser import page_without_javascript, write_renditions
from jobs.models import Pipeline
from jobs.tasks import run_step
from jobs.tests.test_pipeline_actions import create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Where things are in a row (jobs_page.html#row; static/js/app.js relies on the same cells).
ROWS = 'tbody[id^="job-"]'
STATUS = "[data-part=status]"
TAGS = "span[data-colour]"
FAVOURITE = "rgb(245, 158, 11)"  # a pressed star's colour (static/css/app.css)


# Every loaded row, those windowed out of the document included (as copies), and their ids.
LOADED = "i2vLists.items(document.getElementById('rows'))"
LOADED_IDS = "i2vLists.ids(document.getElementById('rows'))"


def _wait_loaded(page, n, timeout=5_000):
    page.wait_for_function(f"n => {LOADED_IDS}.length === n", arg=n, timeout=timeout)


def _row(page, pipeline):
    return page.locator(f"#row-{pipeline.id}")


def _status(page, pipeline):
    return _row(page, pipeline).locator(STATUS)


def _star(page, pipeline):
    return _row(page, pipeline).locator("button[aria-pressed]")


def _open_menu_item(page, pipeline, label):
    """Open a row's ⋯ menu and click one of its items."""
    _row(page, pipeline).locator("button[aria-label=Actions]").click()
    menu = page.locator("#row-menu")
    expect(menu).to_be_visible()
    menu.get_by_role("button", name=label).click()
    return menu


def test_it_loads_every_page_by_scrolling_to_the_bottom(owner_page, owner):
    now = timezone.now()
    for i in range(45):
        make_pipeline(owner, outputs=1, created_at=now - datetime.timedelta(minutes=i))
    page = owner_page.page

    owner_page.goto("/jobs/")
    assert page.evaluate("typeof htmx") == "object"
    assert page.request.get(owner_page.url("/static/js/app.js")).ok
    rows = page.locator(ROWS)
    expect(rows).to_have_count(20)
    expect(page.get_by_test_id("total")).to_have_text("45 pipelines")

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    _wait_loaded(page, 40)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    _wait_loaded(page, 45)
    expect(page.locator("tbody.more")).to_have_count(0)
    expect(page.get_by_text("Load more")).to_have_count(0)

    # Rows far above the viewport may be windowed out of the document (lists.js); they are still loaded.
    ids = page.evaluate(LOADED_IDS)
    assert len(set(ids)) == len(ids) == 45
    row_ids = page.evaluate(f"{LOADED}.map(e => e.querySelector('tr[id^=\"row-\"]').id)")
    assert len(set(row_ids)) == 45
    owner_page.assert_no_console_errors()


def test_it_expands_a_row_and_collapses_it_without_reloading(owner_page, owner):
    pipeline = make_pipeline(owner, outputs=3, steps=2, name="Expand me")
    page = owner_page.page
    owner_page.goto("/jobs/")
    row = _row(page, pipeline)
    toggle = row.locator("button[aria-expanded]")

    toggle.click()
    detail = page.locator(f"#row-{pipeline.id} + tr.detail")
    expect(detail).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(detail.locator("table.steps tbody tr")).to_have_count(2)
    images = detail.locator(".grid .tile img")
    expect(images).to_have_count(3)
    for i in range(3):
        image = images.nth(i)
        expect(image).to_have_attribute("loading", "lazy")
        expect(image).to_have_attribute("width", "300")
        expect(image).to_have_attribute("height", "225")
    page.screenshot(path="/tmp/jobs_expanded.png", full_page=True)

    toggle.click()
    expect(detail).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    expect(detail).to_be_visible()
    expect(images).to_have_count(3)
    assert owner_page.count(f"/jobs/{pipeline.id}/") == 1
    owner_page.assert_no_console_errors()


def test_it_favourites_a_pipeline_and_keeps_it_after_a_reload(owner_page, owner):
    pipeline = make_pipeline(owner)
    page = owner_page.page
    owner_page.goto("/jobs/")
    star = _star(page, pipeline)
    expect(star).to_have_attribute("aria-pressed", "false")

    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(star).to_have_css("color", FAVOURITE)

    page.reload()
    star = _star(page, pipeline)
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(star).to_have_css("color", FAVOURITE)
    pipeline.refresh_from_db()
    assert pipeline.is_favorite
    owner_page.assert_no_console_errors()


def test_it_adds_a_tag_from_the_menu_and_removes_it_again(owner_page, owner):
    pipeline = make_pipeline(owner)
    page = owner_page.page
    owner_page.goto("/jobs/")
    chips = _row(page, pipeline).locator(TAGS)
    expect(chips).to_have_count(0)

    menu = _open_menu_item(page, pipeline, "Tags…")
    field = menu.get_by_label("Tag name")
    field.fill("client-x")
    field.press("Enter")
    expect(chips).to_have_text(["client-x"])
    expect(menu).to_be_hidden()

    page.reload()
    expect(chips).to_have_text(["client-x"])

    menu = _open_menu_item(page, pipeline, "Tags…")
    menu.get_by_role("button", name="Remove tag client-x").click()
    expect(chips).to_have_count(0)
    page.reload()
    expect(_row(page, pipeline)).to_be_visible()
    expect(chips).to_have_count(0)
    assert not pipeline.tags.exists()
    owner_page.assert_no_console_errors()


def test_it_filters_by_status_and_goes_back_to_the_whole_list(owner_page, owner):
    failed = [make_pipeline(owner, status="failed") for _ in range(2)]
    for _ in range(3):
        make_pipeline(owner, status="completed")
    page = owner_page.page
    owner_page.goto("/jobs/")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(5)

    page.locator("select[name=status]").select_option("failed")
    expect(rows).to_have_count(2)
    expect(page.locator(f"{ROWS} {STATUS}")).to_have_text(["failed", "failed"])
    for pipeline in failed:
        expect(_row(page, pipeline)).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]status=failed(&|$)"))

    page.go_back()
    expect(page).to_have_url(owner_page.url("/jobs/"))
    expect(rows).to_have_count(5)
    owner_page.assert_no_console_errors()


def test_it_favourites_two_selected_pipelines_at_once(owner_page, owner):
    first, second, untouched = (make_pipeline(owner) for _ in range(3))
    page = owner_page.page
    owner_page.goto("/jobs/")
    bar = page.locator("#bulk")
    expect(bar).to_be_hidden()

    _row(page, first).locator("input[type=checkbox]").check()
    _row(page, second).locator("input[type=checkbox]").check()
    expect(bar).to_be_visible()
    expect(bar.locator("[data-bulk-count]")).to_have_text("2 selected")

    bar.get_by_role("button", name="★ Favourite").click()
    for pipeline in (first, second):
        expect(_star(page, pipeline)).to_have_attribute("aria-pressed", "true")
        expect(_star(page, pipeline)).to_have_css("color", FAVOURITE)
    expect(_star(page, untouched)).to_have_attribute("aria-pressed", "false")
    expect(bar.locator("[data-bulk-count]")).to_have_text("2 selected")  # kept for a next action on them
    assert set(Pipeline.objects.filter(is_favorite=True).values_list("pk", flat=True)) == {first.pk, second.pk}
    owner_page.assert_no_console_errors()


def test_it_keeps_the_select_all_box_in_step_with_the_selection(owner_page, owner):
    first, *_ = (make_pipeline(owner) for _ in range(3))
    page = owner_page.page
    owner_page.goto("/jobs/")
    every, count = page.locator("[data-select-all]"), page.locator("[data-bulk-count]")
    every.check()
    expect(count).to_have_text("3 selected")
    page.locator("#bulk").get_by_role("button", name="★ Favourite").click()
    expect(page.locator(f"#row-{first.id} button[aria-pressed=true]")).to_be_visible()
    expect(count).to_have_text("3 selected")
    expect(every).to_be_checked()  # every row stayed in the list, and in the selection
    _row(page, first).locator("input[type=checkbox]").uncheck()
    expect(count).to_have_text("2 selected")
    expect(every).not_to_be_checked()
    page.locator("#bulk").get_by_role("button", name="Clear selection").click()
    expect(page.locator("#bulk")).to_be_hidden()
    expect(every).not_to_be_checked()
    every.check()  # one tick selects them all again
    expect(count).to_have_text("3 selected")
    owner_page.assert_no_console_errors()


def test_it_says_why_an_action_is_refused_once_the_pipeline_moved_on(owner_page, owner):
    pipeline = make_pipeline(owner, name="Moved on", status="running")
    page = owner_page.page
    owner_page.goto("/jobs/")
    _row(page, pipeline).locator("button[aria-label=Actions]").click()
    expect(page.locator("#row-menu").get_by_role("button", name="Cancel")).to_be_visible()
    Pipeline.objects.filter(pk=pipeline.pk).update(status="completed")  # finished since the menu was drawn
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#row-menu").get_by_role("button", name="Cancel").click()
    expect(page.locator("#toast")).to_have_text("“Moved on” is completed: there is nothing to cancel.")  # a 409, said
    owner_page.assert_no_console_errors()


def test_it_cancels_a_row_and_resumes_it_from_the_menu(owner_page, owner):
    pipeline = create(owner, prompts=["a", "b"])
    run_step.run(pipeline.steps.order_by("order").first().pk)  # one image made before the cancel
    page = owner_page.page
    page.on("dialog", lambda dialog: dialog.accept())
    owner_page.goto("/jobs/")
    _open_menu_item(page, pipeline, "Cancel")
    expect(_status(page, pipeline)).to_contain_text("cancelled")
    _open_menu_item(page, pipeline, "Resume")  # free: it asks nothing
    expect(_status(page, pipeline)).to_contain_text("running")
    assert sorted(pipeline.steps.values_list("status", flat=True)) == ["completed", "queued"]
    owner_page.assert_no_console_errors()


def test_it_takes_a_tab_whose_session_ended_to_the_login_page_and_back(owner_page, owner):
    pipeline = make_pipeline(owner, steps=2, status="completed")
    page = owner_page.page
    owner_page.goto("/jobs/?status=completed")
    session = page.context.cookies()
    page.context.clear_cookies()  # logged out, as by another tab or an expired session
    _row(page, pipeline).locator("button[aria-expanded]").click()
    expect(page).to_have_url(re.compile(r"/login/\?next=/jobs/%3Fstatus%3Dcompleted$"))
    expect(page.locator("header")).to_have_count(1)  # the login page itself, not inside a row

    page.context.add_cookies(session)
    owner_page.goto("/jobs/")
    page.context.clear_cookies()
    _star(page, pipeline).click()  # a POST: its CSRF check fails first
    expect(page).to_have_url(re.compile(r"/login/\?next=/jobs/$"))
    assert not Pipeline.objects.get(pk=pipeline.pk).is_favorite


def test_it_offers_the_keyboard_a_way_past_the_navigation(owner_page, owner):
    make_pipeline(owner)
    page = owner_page.page
    owner_page.goto("/jobs/")
    skip = page.get_by_role("link", name="Skip to content")
    assert not skip.is_visible() or skip.bounding_box()["y"] < 0  # out of sight until Tab reaches it
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")  # the next stop is the page's own first control, not the navigation
    assert page.evaluate("document.activeElement.closest('header')") is None
    owner_page.assert_no_console_errors()


def test_it_unticks_the_select_all_box_when_the_next_page_loads(owner_page, owner):
    now = timezone.now()
    for i in range(25):
        make_pipeline(owner, created_at=now - datetime.timedelta(minutes=i))
    page = owner_page.page
    owner_page.goto("/jobs/")
    every, count = page.locator("[data-select-all]"), page.locator("[data-bulk-count]")
    every.check()
    expect(count).to_have_text("20 selected")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    _wait_loaded(page, 25)
    expect(every).not_to_be_checked()  # five rows came unselected
    expect(count).to_have_text("20 selected")
    every.check()
    expect(count).to_have_text("25 selected")
    owner_page.assert_no_console_errors()


def test_it_keeps_the_selection_after_a_tag_and_drops_the_rows_a_hide_takes_out(owner_page, owner):
    first, second, third, unselected = (make_pipeline(owner, name=f"P{i}") for i in range(4))
    page = owner_page.page
    owner_page.goto("/jobs/")
    bar, count, total = page.locator("#bulk"), page.locator("[data-bulk-count]"), page.get_by_test_id("total")
    for pipeline in (first, second, third):
        _row(page, pipeline).locator("input[type=checkbox]").check()
    expect(count).to_have_text("3 selected")

    bar.get_by_label("Tag to add").fill("batch-a")
    bar.get_by_role("button", name="Add tag").click()
    for pipeline in (first, second, third):
        expect(_row(page, pipeline).locator(TAGS)).to_have_text(["batch-a"])
        expect(_row(page, pipeline).locator("input[type=checkbox]")).to_be_checked()  # redrawn, still ticked
    expect(count).to_have_text("3 selected")
    expect(_row(page, unselected).locator("input[type=checkbox]")).not_to_be_checked()

    # Two of them hidden: out of the default view, and so out of the selection.
    _row(page, first).locator("input[type=checkbox]").uncheck()
    expect(count).to_have_text("2 selected")
    bar.get_by_role("button", name="Hide", exact=True).click()
    expect(page.locator(ROWS)).to_have_count(2)
    expect(total).to_have_text("2 pipelines")
    expect(bar).to_be_hidden()
    _row(page, first).locator("input[type=checkbox]").check()
    expect(count).to_have_text("1 selected")  # not 3: the hidden ones are no longer in it
    assert sorted(Pipeline.objects.filter(is_hidden=True).values_list("pk", flat=True)) == sorted([second.pk, third.pk])
    owner_page.assert_no_console_errors()


# The filter form's controls as boxes (those shown), and whether the page scrolls sideways.
CONTROLS = """() => [...document.querySelectorAll('#filters :is(input, select, summary, a)')]
  .map(el => el.getBoundingClientRect()).filter(box => box.width > 0).map(box => [box.top, box.bottom])"""
SIDEWAYS = "() => document.documentElement.scrollWidth > window.innerWidth"


def test_it_folds_the_filters_on_a_phone_and_lays_them_on_one_line_wide(owner_page, owner):
    for i in range(12):
        make_pipeline(owner, status="failed" if i % 2 else "completed", is_favorite=i % 3 == 0, tags=["campaign-q3"] if i % 4 == 1 else [])
    page = owner_page.page
    page.set_viewport_size({"width": 390, "height": 844})
    owner_page.goto("/jobs/?status=failed&favorites=1")
    filters = page.locator("#filters")
    summary, status = filters.locator("summary"), filters.locator("select[name=status]")
    expect(summary).to_have_text("Filters · 2")
    expect(status).to_be_hidden()
    expect(filters.get_by_label("Search")).to_be_visible()
    expect(page.locator(ROWS)).to_have_count(2)
    assert not page.evaluate(SIDEWAYS)
    assert page.locator(ROWS).first.bounding_box()["y"] + page.locator(ROWS).first.bounding_box()["height"] <= 844

    summary.click()
    expect(status).to_be_visible()
    assert not page.evaluate(SIDEWAYS)
    filters.locator("input[name=favorites]").uncheck()
    expect(page.locator(ROWS)).to_have_count(6)
    expect(summary).to_have_text("Filters · 1")
    filters.locator("select[name=tag]").select_option("campaign-q3")
    expect(page.locator(ROWS)).to_have_count(3)
    expect(summary).to_have_text("Filters · 2")
    expect(status).to_be_visible()  # still open under the person's hand
    expect(page).to_have_url(re.compile(r"tag=campaign-q3"))
    status.focus()
    page.keyboard.press("Escape")  # folds them away, back to their summary
    expect(status).to_be_hidden()
    expect(summary).to_be_focused()

    # Wide, every control on one line with the search, the summary gone: from a fresh load, with the set closed.
    page.set_viewport_size({"width": 1400, "height": 900})
    owner_page.goto("/jobs/?status=failed")
    expect(summary).to_be_hidden()
    for name in ("status", "tag", "model", "hidden", "sort"):
        expect(filters.locator(f"select[name={name}]")).to_be_visible()
    for name in ("q", "favorites", "date_from", "date_to"):
        expect(filters.locator(f"input[name={name}]")).to_be_visible()
    boxes = page.evaluate(CONTROLS)
    assert len(boxes) == 10 and max(top for top, _ in boxes) < min(bottom for _, bottom in boxes), boxes
    assert not page.evaluate(SIDEWAYS)
    filters.locator("select[name=status]").select_option("")
    expect(page.locator(ROWS)).to_have_count(12)
    owner_page.assert_no_console_errors()


def test_it_filters_on_a_phone_without_javascript(browser, live_server, client, owner):
    for status in ("failed", "completed", "completed"):
        make_pipeline(owner, status=status)
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/jobs/")
        filters = page.locator("#filters")
        expect(filters.locator("summary")).to_have_text("Filters")
        expect(page.locator(ROWS)).to_have_count(3)
        filters.locator("summary").click()
        filters.locator("select[name=status]").select_option("failed")
        filters.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"status=failed"))
        expect(page.locator(ROWS)).to_have_count(1)
        expect(filters.locator("summary")).to_have_text("Filters · 1")
        expect(filters.locator("select[name=status]")).to_be_hidden()  # folded again on the new page
        assert not page.evaluate(SIDEWAYS)


def test_it_leaves_out_the_row_controls_only_a_script_works_without_javascript(browser, live_server, client, owner):
    pipeline = make_pipeline(owner, status="completed", is_favorite=True)
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.goto(f"{live_server.url}/jobs/")
        row = page.locator(f"#row-{pipeline.id}")
        for control in (row.get_by_role("button", name="Expand"), row.get_by_role("button", name="Actions"), row.get_by_role("checkbox")):
            expect(control).to_be_hidden()
        expect(page.get_by_role("checkbox", name="Select all loaded")).to_be_hidden()
        expect(row.get_by_role("button", name="★")).to_be_visible()  # which are favourites still shows
        row.get_by_role("link", name=pipeline.name).click()  # where all of it is done with forms
        expect(page).to_have_url(f"{live_server.url}/jobs/{pipeline.id}/")
        expect(page.get_by_role("button", name="Favourite")).to_be_visible()


def test_it_watches_a_running_row_until_it_is_done(owner_page, owner):
    pipeline = make_pipeline(owner, status="running")
    page = owner_page.page
    owner_page.goto("/jobs/")
    badge = _status(page, pipeline)
    expect(badge).to_have_text("running")

    pipeline.status = "completed"
    pipeline.save(update_fields=["status", "updated_at"])
    expect(badge).to_have_text("completed", timeout=5_000)
    polls = owner_page.count("/jobs/watch")
    assert polls >= 1
    page.wait_for_timeout(3_000)
    assert owner_page.count("/jobs/watch") == polls  # nothing at work: no more checks
    owner_page.assert_no_console_errors()


def test_it_redraws_one_row_and_removes_another_from_the_same_watch_answer(owner_page, owner):
    # A changed row and a removal in one answer: the removal's <tbody> would be dropped by the HTML parser
    # if it followed the row (a <tr>) in the same <template>.
    done, gone = (make_pipeline(owner, status="running") for _ in range(2))
    page = owner_page.page
    owner_page.goto("/jobs/")
    expect(_status(page, done)).to_have_text("running")
    gone_row = page.locator(f"#job-{gone.pk}")
    expect(gone_row).to_have_count(1)
    with transaction.atomic():
        done.status = "completed"
        done.save(update_fields=["status", "updated_at"])
        gone.delete()
    expect(_status(page, done)).to_have_text("completed", timeout=5_000)
    expect(gone_row).to_have_count(0, timeout=500)  # by that answer, not by the next check 2 s later
    owner_page.assert_no_console_errors()


def test_it_deletes_a_pipeline_from_the_menu(owner_page, owner):
    doomed, kept = make_pipeline(owner, name="Doomed"), make_pipeline(owner, name="Kept")
    page = owner_page.page
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    owner_page.goto("/jobs/")

    _open_menu_item(page, doomed, "Delete")
    expect(page.locator(f"#job-{doomed.id}")).to_have_count(0)
    expect(_row(page, kept)).to_be_visible()
    assert dialogs == ["Delete “Doomed”? This cannot be undone."]
    assert not Pipeline.objects.filter(pk=doomed.pk).exists()
    assert Pipeline.objects.filter(pk=kept.pk).exists()
    owner_page.assert_no_console_errors()


def test_it_keeps_the_filter_controls_in_step_with_the_url_through_back_and_forward(owner_page, owner):
    # Tagged: a tag chip's colour is set by script, which a snapshot of the page would keep as an inline
    # style the Content-Security-Policy refuses when the snapshot comes back (base.html: no history cache).
    failed = [make_pipeline(owner, status="failed", name=f"Failed {i}", tags=["campaign-q3"]) for i in range(2)]
    make_pipeline(owner, status="completed", tags=["campaign-q3"])
    page = owner_page.page
    owner_page.goto("/jobs/")
    rows, status, sort = page.locator(ROWS), page.locator("select[name=status]"), page.locator("select[name=sort]")
    expect(rows).to_have_count(3)

    status.select_option("failed")
    expect(rows).to_have_count(2)
    sort.select_option("name")
    expect(page).to_have_url(re.compile(r"status=failed.*sort=name|sort=name.*status=failed"))
    expect(rows.first).to_have_id(f"job-{failed[0].id}")

    page.go_back()  # fetched again by htmx
    expect(page).to_have_url(re.compile(r"status=failed&.*sort=newest"))
    expect(status).to_have_value("failed")
    expect(sort).to_have_value("newest")
    expect(page.locator("#filters summary")).to_have_text("Filters · 1")  # and their count (shown on a narrow screen)
    page.go_back()
    expect(page).to_have_url(owner_page.url("/jobs/"))
    expect(status).to_have_value("")
    expect(page.locator("#filters summary")).to_have_text("Filters")
    expect(rows).to_have_count(3)
    page.go_forward()
    expect(status).to_have_value("failed")
    expect(rows).to_have_count(2)

    # The next change keeps the filters the list shows.
    page.locator("select[name=hidden]").select_option("include")
    expect(page).to_have_url(re.compile(r"status=failed.*hidden=include|hidden=include.*status=failed"))
    expect(rows).to_have_count(2)

    # Back from another page (a full load, or the back-forward cache) too.
    owner_page.goto("/library/")
    page.go_back()
    expect(status).to_have_value("failed")
    expect(page.locator("select[name=hidden]")).to_have_value("include")
    owner_page.assert_no_console_errors()


def test_it_closes_the_menu_after_rename_and_lowers_the_total_after_deletes(owner_page, owner):
    first, second, third, fourth = (make_pipeline(owner, name=f"P{i}") for i in range(4))
    page = owner_page.page
    asked, answers = [], []  # the dialogs' questions; False dismisses the next one

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if (answers.pop(0) if answers else True) else dialog.dismiss()

    page.on("dialog", answer)
    owner_page.goto("/jobs/")
    total = page.get_by_test_id("total")
    expect(total).to_have_text("4 pipelines")

    _open_menu_item(page, first, "Rename")
    expect(_row(page, first).locator("[data-part=name] form input[name=name]")).to_be_visible()
    expect(page.locator("#row-menu")).to_be_hidden()

    _open_menu_item(page, second, "Delete")
    expect(page.locator(f"#job-{second.id}")).to_have_count(0)
    expect(total).to_have_text("3 pipelines")
    expect(page.locator("#row-menu")).to_be_hidden()

    for pipeline in (third, fourth):
        _row(page, pipeline).locator("input[type=checkbox]").check()
    answers.append(False)  # "Cancel": nothing is deleted
    page.locator("#bulk").get_by_role("button", name="Delete").click()
    assert asked[-1] == "Delete 2 pipelines? This cannot be undone."  # the click returns once it is answered
    assert owner_page.count("/jobs/bulk") == 0
    expect(page.locator(ROWS)).to_have_count(3)
    page.locator("#bulk").get_by_role("button", name="Delete").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(total).to_have_text("1 pipeline")
    owner_page.assert_no_console_errors()


def test_it_takes_hidden_rows_out_of_the_list_and_unhidden_ones_out_of_only_hidden(owner_page, owner):
    first, second, third, fourth = (make_pipeline(owner, name=f"P{i}") for i in range(4))
    page = owner_page.page
    owner_page.goto("/jobs/")
    total = page.get_by_test_id("total")
    expect(total).to_have_text("4 pipelines")

    _open_menu_item(page, first, "Hide")
    expect(page.locator(f"#job-{first.id}")).to_have_count(0)
    expect(total).to_have_text("3 pipelines")
    for pipeline in (second, third):
        _row(page, pipeline).locator("input[type=checkbox]").check()
    page.locator("#bulk").get_by_role("button", name="Hide", exact=True).click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(total).to_have_text("1 pipeline")

    page.locator("select[name=hidden]").select_option("only")
    expect(page.locator(ROWS)).to_have_count(3)
    _open_menu_item(page, second, "Unhide")
    expect(page.locator(f"#job-{second.id}")).to_have_count(0)
    expect(page.locator(ROWS)).to_have_count(2)
    assert sorted(Pipeline.objects.filter(is_hidden=True).values_list("pk", flat=True)) == [first.pk, third.pk]
    owner_page.assert_no_console_errors()


def test_it_shows_a_skeleton_instead_of_load_more_while_the_next_page_loads(owner_page, owner):
    for _ in range(25):
        make_pipeline(owner, outputs=0)
    page = owner_page.page
    owner_page.goto("/jobs/")
    expect(page.locator(ROWS)).to_have_count(20)
    release = []
    page.route("**/jobs/?*cursor=*", lambda route: release.append(route))

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("() => document.querySelector('.more.htmx-request')")
    expect(page.locator(".more a")).to_be_hidden()
    expect(page.locator(".more .skeleton")).to_be_visible()
    release[0].continue_()
    expect(page.locator(ROWS)).to_have_count(25)
    owner_page.assert_no_console_errors()


def test_it_shows_progress_on_a_running_row_and_errors_as_sentences(owner_page, owner):
    running = make_pipeline(owner, status="running", planned_steps=40, progress_done=12)
    failed = make_pipeline(owner, status="failed", outputs=0)
    failed.steps.update(status="failed", error="The provider refused the request: the prompt was flagged by its content policy.")
    page = owner_page.page
    owner_page.goto("/jobs/")

    status = _status(page, running)
    expect(status.locator("small")).to_contain_text("12/40 done")
    assert status.locator("small").evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "the progress is cut"
    assert status.locator("b").evaluate("e => e.getBoundingClientRect().right <= e.closest('td').getBoundingClientRect().right")

    _row(page, failed).locator("button[aria-expanded]").click()
    error = page.locator(f"#row-{failed.id} + tr.detail td.error")
    expect(error).to_contain_text("content policy")
    line = float(error.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 18"))
    assert error.evaluate("e => e.getBoundingClientRect().height") < 4 * line, "wrapped a word a line"


def _many_pipelines(owner, n, active_every=0):
    """n light rows (no steps or outputs), newest first; every `active_every`-th one running."""
    now = timezone.now()
    Pipeline.objects.bulk_create(
        Pipeline(
            owner=owner, name=f"Bulk {i}", model="flux-kontext", first_prompt=f"prompt {i}", created_at=now - datetime.timedelta(seconds=i),
            status="running" if active_every and i % active_every == 0 else "completed",
        )
        for i in range(n)
    )  # fmt: skip


def _watch_requests(owner_page):
    return owner_page.count("/jobs/watch")


def _set_hidden(page, hidden):
    # Headless Chromium keeps its one tab visible; the page is told otherwise the
    # way a browser tells it when the tab goes to the background.
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => hidden ? "hidden" : "visible" });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_it_checks_500_rows_with_22_at_work_in_one_request_at_most_every_2_s_and_none_while_hidden(owner_page, owner):
    _many_pipelines(owner, 500, active_every=23)  # 22 running, spread over the list
    page = owner_page.page
    # Rendering 500 rows at once takes this slow box's server seconds (pages of 20 don't).
    page.goto(owner_page.url("/jobs/?page_size=500"), timeout=60_000)
    _wait_loaded(page, 500)
    assert page.evaluate(f"{LOADED}.filter(e => e.querySelector('[data-watch]')).length") == 22

    before = _watch_requests(owner_page)
    page.wait_for_timeout(10_000)
    idle = _watch_requests(owner_page) - before
    assert 1 <= idle <= 5, f"{idle} watch requests in 10 s"  # at most 0.5/s (one poll per row made 10/s)
    assert owner_page.count("/jobs/watch") == len([r for r in owner_page.requests if r[1].startswith("/jobs/") and r[1] != "/jobs/"])
    # Each asks only about the rows near the viewport.
    assert all(path == "/jobs/watch" for _, path in owner_page.requests[-idle:])

    _set_hidden(page, True)
    hidden_from = len(owner_page.requests)
    page.wait_for_timeout(7_000)
    assert owner_page.requests[hidden_from:] == []  # nothing at all while hidden

    _set_hidden(page, False)
    page.wait_for_timeout(2_500)
    assert _watch_requests(owner_page) > before + idle  # back as soon as it is seen again
    owner_page.assert_no_console_errors()


def test_it_keeps_5000_loaded_rows_under_3000_dom_nodes(owner_page, owner):
    _many_pipelines(owner, 5000)
    page = owner_page.page
    page.goto(owner_page.url("/jobs/?page_size=1000"), timeout=60_000)
    for loaded in range(1000, 5001, 1000):
        _wait_loaded(page, loaded, timeout=60_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.locator("tbody.more")).to_have_count(0)
    page.wait_for_timeout(300)
    # Every node counts, text and Attr nodes included.
    nodes = owner_page.dom_nodes()
    assert nodes < 3000, nodes

    # Halfway back up, the rows there are in the document, with the right names, and still few elements.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    page.wait_for_timeout(300)
    assert page.evaluate("document.getElementsByTagName('*').length") < 3000
    outside = owner_page.dom_nodes() - owner_page.document_nodes()
    # Out of the walk: the filter controls' shadow trees and the Attr nodes of the page's own elements, a few
    # hundred; none for the items (1,752 when htmx processed every row it brought whole).
    assert outside < 600, outside
    names = page.evaluate(
        """() => [...document.querySelectorAll('tr[id^="row-"]')]
            .filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; })
            .map(r => Number(r.querySelector('a').textContent.slice(5)))"""
    )
    assert len(names) >= 10 and names == list(range(names[0], names[0] + len(names)))
    assert 2000 < names[0] < 3000
    # Select all loaded reaches the rows out of the document too.
    page.locator("[data-select-all]").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("5000 selected")
    owner_page.assert_no_console_errors()


def test_it_keeps_windowed_rows_as_text_and_brings_them_back_intact(owner_page, owner):
    _many_pipelines(owner, 1000)
    top = make_pipeline(owner, steps=2, name="Top one", tags=["portrait"])  # the newest: first in the list
    page = owner_page.page
    write_renditions(owner)  # the top row's cover and outputs
    page.goto(owner_page.url("/jobs/?page_size=500"), timeout=60_000)
    _wait_loaded(page, 500, timeout=60_000)
    # State to keep: a tick, an expanded row (its detail loaded by htmx), a tag's colour (an inline style).
    _row(page, top).locator("input[type=checkbox]").check()
    _row(page, top).locator("button[aria-expanded]").click()
    detail = page.locator(f"#row-{top.id} + tr.detail")
    expect(detail.locator("table.steps tbody tr")).to_have_count(2)
    colour = _row(page, top).locator(TAGS).evaluate("e => e.style.getPropertyValue('--tag')")
    assert colour

    for loaded in (1000, 1001):  # pages of 500
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        _wait_loaded(page, loaded, timeout=60_000)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(_row(page, top)).to_have_count(0)  # windowed out
    ids = page.evaluate(LOADED_IDS)
    assert len(ids) == 1001 and ids[0] == f"job-{top.id}"
    # Windowed rows are HTML text, not detached nodes (~45 nodes a row: 45,000 for these 1,001).
    nodes = owner_page.dom_nodes()
    assert nodes < 12_000, nodes  # 49,956 when they were kept as detached nodes

    page.evaluate("window.scrollTo(0, 0)")
    expect(_row(page, top)).to_have_count(1)
    expect(_row(page, top).locator("input[type=checkbox]")).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected")
    expect(_row(page, top).locator("button[aria-expanded]")).to_have_attribute("aria-expanded", "true")
    expect(detail.locator("table.steps tbody tr")).to_have_count(2)
    assert _row(page, top).locator(TAGS).evaluate("e => e.style.getPropertyValue('--tag')") == colour
    # The detail's links work through htmx again (a request of its own, no navigation).
    with page.expect_request(lambda r: f"/jobs/{top.id}/steps" in r.url and r.headers.get("hx-request") == "true"):
        detail.locator("a[hx-get*='/steps']").first.click()
    expect(page).to_have_url(owner_page.url("/jobs/?page_size=500"))
    owner_page.assert_no_console_errors()


# Each row cell's column (the <col> classes of jobs_page.html#results) and how it is drawn.
CELLS = """() => {
  const names = [...document.querySelectorAll('#rows > colgroup > col')].map(c => c.className);
  const row = document.querySelector('#rows tr[id^="row-"]');
  return Object.fromEntries([...row.cells].map((cell, i) => {
    const style = getComputedStyle(cell);
    return [names[i], { align: style.textAlign, colour: style.color, weight: style.fontWeight, width: Math.round(cell.getBoundingClientRect().width) }];
  }));
}"""


def test_it_styles_the_columns_by_name_and_narrows_to_the_name_on_small_screens(owner_page, owner):
    _many_pipelines(owner, 200)
    page = owner_page.page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(owner_page.url("/jobs/?page_size=200"), timeout=60_000)
    _wait_loaded(page, 200)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(300)
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("#rows > tbody.window-gap")).not_to_have_count(0)  # far rows are in a spacer

    cells = page.evaluate(CELLS)
    assert [c for c in cells] == ["c-pick", "c-expand", "c-cover", "c-status", "c-star", "c-name", "c-model", "c-tags",
                                  "c-steps", "c-outputs", "c-cost", "c-created", "c-menu"]  # fmt: skip
    assert {name: cells[name]["align"] for name in ("c-steps", "c-outputs", "c-cost", "c-menu", "c-model")} == {
        "c-steps": "right", "c-outputs": "right", "c-cost": "right", "c-menu": "center", "c-model": "start"}  # fmt: skip
    # The name is the row's header, for screen readers (the checkbox, star and buttons are named by it), in a cell's look.
    assert cells["c-name"]["align"] == "start" and cells["c-name"]["weight"] == cells["c-model"]["weight"] == "400"
    expect(page.get_by_role("rowheader").first).to_contain_text("Bulk 0")
    ink, muted = cells["c-name"]["colour"], cells["c-tags"]["colour"]
    assert ink != muted and cells["c-model"]["colour"] == cells["c-cost"]["colour"] == ink
    assert cells["c-steps"]["colour"] == muted
    assert cells["c-steps"]["width"] == 64 and cells["c-created"]["width"] == 108

    # Narrower, the model to the date go, and the name takes what they leave, even with spacers in the table.
    page.set_viewport_size({"width": 1000, "height": 800})
    cells = page.evaluate(CELLS)
    assert all(cells[name]["width"] == 0 for name in ("c-model", "c-tags", "c-steps", "c-outputs", "c-cost", "c-created"))
    assert cells["c-menu"]["width"] == 36 and cells["c-name"]["width"] > 500
    page.set_viewport_size({"width": 375, "height": 812})
    cells = page.evaluate(CELLS)
    assert cells["c-cover"]["width"] == 0 and cells["c-name"]["width"] >= 150
    owner_page.assert_no_console_errors()


def test_it_shows_a_refused_rename_in_place_without_a_console_error(owner_page, owner):
    """A 422 is a designed answer (the form again, with its error): htmx swaps it in and reports no error."""
    pipeline = make_pipeline(owner, name="Kept")
    page = owner_page.page
    owner_page.goto("/jobs/")
    _open_menu_item(page, pipeline, "Rename")
    field = _row(page, pipeline).locator("[data-part=name] form input[name=name]")
    field.fill("   ")
    _row(page, pipeline).get_by_role("button", name="Save").click()
    expect(_row(page, pipeline).locator("[data-part=name] .error")).to_have_text("This field is required.")
    expect(page.locator("#toast")).to_be_hidden()
    field = _row(page, pipeline).locator("[data-part=name] form input[name=name]")
    field.fill("Renamed")
    _row(page, pipeline).get_by_role("button", name="Save").click()
    expect(_row(page, pipeline).locator("[data-part=name]")).to_contain_text("Renamed")
    owner_page.assert_no_console_errors()


def test_it_shows_every_tag_of_a_row_inside_its_cell(owner_page, owner):
    tags = ["client-acme", "lookbook", "portrait", "a-tag-of-forty-characters-to-the-limit-x"]
    pipeline = make_pipeline(owner, tags=tags)
    page = owner_page.page
    owner_page.goto("/jobs/")
    chips = _row(page, pipeline).locator(TAGS)
    expect(chips).to_have_count(4)
    cell = chips.first.evaluate("el => { const r = el.parentElement.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }")
    for box in chips.evaluate_all("els => els.map(el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, r.width]; })"):
        assert box[4] > 20 and cell[0] <= box[0] and box[2] <= cell[2] + 0.5 and cell[1] <= box[1] and box[3] <= cell[3] + 0.5, (box, cell)
    owner_page.assert_no_console_errors()


def test_it_adds_the_bulk_tag_on_enter_and_waits_in_the_field_when_it_is_empty(owner_page, owner):
    first, second = make_pipeline(owner, name="P1"), make_pipeline(owner, name="P2")
    page = owner_page.page
    owner_page.goto("/jobs/")
    for pipeline in (first, second):
        _row(page, pipeline).locator("input[type=checkbox]").check()
    bar = page.locator("#bulk")
    bar.get_by_role("button", name="Add tag").click()  # nothing typed
    expect(page.locator("#toast")).to_have_text("Type the tag to add.")
    expect(bar.get_by_label("Tag to add")).to_be_focused()
    page.keyboard.type("batch-one")
    page.keyboard.press("Enter")  # the browser's Enter clicked the bar's first button: ★ Favourite
    for pipeline in (first, second):
        expect(_row(page, pipeline).locator(TAGS)).to_have_text(["batch-one"])
    assert not Pipeline.objects.filter(is_favorite=True).exists()
    owner_page.assert_no_console_errors()


def test_it_works_the_row_menu_and_a_rename_from_the_keyboard(owner_page, owner):
    pipeline = make_pipeline(owner, name="Keyboard one")
    page = owner_page.page
    owner_page.goto("/jobs/")
    opener = _row(page, pipeline).locator("button[aria-label=Actions]")
    opener.focus()
    page.keyboard.press("Enter")
    menu = page.locator("#row-menu")
    expect(menu).to_be_visible()
    first = menu.locator("button:not([disabled]), a[href], input, summary").first
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(first).not_to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(opener).to_be_focused()

    # Rename opened, typed in, then Esc: the row is as it was, and nothing was saved.
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    menu.get_by_role("button", name="Rename").click()
    field = _row(page, pipeline).locator("form.rename input[name=name]")
    field.fill("Typed, then thought better of")
    field.press("Escape")
    expect(_row(page, pipeline).locator("[data-part=name] a")).to_have_text("Keyboard one")
    assert Pipeline.objects.get(pk=pipeline.pk).name == "Keyboard one"
    owner_page.assert_no_console_errors()


def test_it_opens_the_menu_of_a_row_at_the_screen_bottom_above_its_button(owner_page, owner):
    pipelines = [make_pipeline(owner, name=f"P{i}") for i in range(6)]
    page = owner_page.page
    page.set_viewport_size({"width": 390, "height": 500})
    owner_page.goto("/jobs/")
    opener = _row(page, pipelines[0]).locator("button[aria-label=Actions]")  # the oldest: the last row
    opener.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -(window.innerHeight - document.querySelector('#row-%d button[aria-label=Actions]').getBoundingClientRect().bottom) + 10)" % pipelines[0].id)
    opener.click()
    menu = page.locator("#row-menu")
    expect(menu.get_by_role("button", name="Delete")).to_be_visible()
    page.wait_for_timeout(100)
    bottom = menu.evaluate("m => m.getBoundingClientRect().bottom")
    assert bottom <= page.viewport_size["height"], bottom  # Cancel, Hide and Delete were below the fold
    owner_page.assert_no_console_errors()


def test_it_acts_once_on_a_double_click(owner_page, owner):
    # A double click's second click landed on whatever the first one's answer drew there: the star again
    # (favourite, then not), Cancel where Approve was, a second pipeline from Create and run.
    pipeline = make_pipeline(owner, name="Double")
    page = owner_page.page
    owner_page.goto("/jobs/")
    box = _star(page, pipeline).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    expect(_star(page, pipeline)).to_have_attribute("aria-pressed", "true")  # answered and redrawn
    page.mouse.down(click_count=2)  # a person's double click: its second click, on the new star
    page.mouse.up(click_count=2)
    page.wait_for_timeout(300)
    assert owner_page.count(f"/jobs/{pipeline.id}/favorite") == 1
    assert Pipeline.objects.get(pk=pipeline.pk).is_favorite
    _star(page, pipeline).click()  # a click of its own later still counts
    expect(_star(page, pipeline)).to_have_attribute("aria-pressed", "false")
    owner_page.assert_no_console_errors()


def test_it_asks_before_a_free_rerun_from_the_menu(owner_page, owner):
    pipeline = create(owner, prompts=["a", "b", "c"])
    Pipeline.objects.filter(pk=pipeline.pk).update(status="completed", name="Free <i>run</i>")
    page = owner_page.page
    asked, answers = [], [False]  # the dialogs' questions; False dismisses the next one
    page.on("dialog", lambda dialog: asked.append(dialog.message) or (dialog.accept() if (answers.pop(0) if answers else True) else dialog.dismiss()))
    owner_page.goto("/jobs/")
    _open_menu_item(page, pipeline, "Rerun as new")
    assert asked == ["Run “Free <i>run</i>” again as a new pipeline, with the same settings and seed? It plans 3 generations: Free."]
    assert owner.pipelines.count() == 1
    page.locator("#row-menu").get_by_role("button", name="Rerun as new").click()
    expect(page.locator(ROWS)).to_have_count(2)  # the Jobs page again, with the new pipeline
    assert len(asked) == 2 and owner.pipelines.count() == 2
    owner_page.assert_no_console_errors()


def _seen_again(page, how):
    """The tab shown again after it was in the background, or its window focused."""
    if how == "visibility":
        _set_hidden(page, True)
        _set_hidden(page, False)
    else:
        page.evaluate("window.dispatchEvent(new Event('focus'))")


def test_it_offers_pipelines_made_elsewhere_when_the_tab_is_seen_again_and_asks_nothing_while_idle(owner_page, owner):
    earlier = timezone.now() - datetime.timedelta(hours=1)
    old = [make_pipeline(owner, status="completed", outputs=0, created_at=earlier - datetime.timedelta(minutes=i)) for i in range(2)]
    page = owner_page.page
    owner_page.goto("/jobs/")
    expect(page.locator(ROWS)).to_have_count(2)
    owner_page.settle()

    # Nothing at work: no request at all while the page sits there, a pipeline made elsewhere or not.
    idle_from = len(owner_page.requests)
    page.wait_for_timeout(4_000)
    made = make_pipeline(owner, name="Made by a script", status="completed", outputs=0)  # another tab, the API
    page.wait_for_timeout(4_000)
    assert owner_page.requests[idle_from:] == []
    bar = page.locator("#newer")
    expect(bar.get_by_role("button")).to_have_count(0)

    # Seen again: one request, and the bar says so; Show puts the row above the top one.
    _seen_again(page, "visibility")
    show = bar.get_by_role("button", name="1 new pipeline — Show")
    expect(show).to_be_visible()
    assert owner_page.requests[idle_from:] == [("GET", "/jobs/watch")]
    show.click()
    expect(page.locator(ROWS).first).to_have_id(f"job-{made.id}")
    expect(page.locator(ROWS)).to_have_count(3)
    assert _ids(page) == [made.id, old[0].id, old[1].id]
    expect(page.get_by_test_id("total")).to_have_text("3 pipelines")
    expect(bar.get_by_role("button")).to_have_count(0)
    expect(_row(page, made).get_by_role("link")).to_be_focused()  # the button went with the bar

    # Its window focused: the same, from the new top row. What doesn't match the filters, or isn't newer, is not
    # offered (jobs/tests/test_watch.py counts those); two pipelines made at once are one bar.
    second, third = (make_pipeline(owner, status="completed", outputs=0) for _ in range(2))
    _seen_again(page, "focus")
    bar.get_by_role("button", name="2 new pipelines — Show").click()
    expect(page.locator(ROWS)).to_have_count(5)
    assert _ids(page)[:3] == [third.id, second.id, made.id]
    before = len(owner_page.requests)
    page.wait_for_timeout(3_000)
    assert owner_page.requests[before:] == []  # still idle: nothing at work, nothing asked
    owner_page.assert_no_console_errors()


def test_it_puts_new_pipelines_at_the_top_of_a_long_list_scrolled_far_down(owner_page, owner):
    _many_pipelines(owner, 120)  # an hour's worth of old ones, a second apart
    Pipeline.objects.update(created_at=timezone.now() - datetime.timedelta(hours=1))
    page = owner_page.page
    owner_page.goto("/jobs/?page_size=120")
    _wait_loaded(page, 120)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("() => !document.getElementById('rows').querySelector('tbody[id]').matches(':first-of-type')", timeout=5_000)
    made = make_pipeline(owner, name="Made far above", status="completed", outputs=0)
    _seen_again(page, "focus")
    show = page.locator("#newer").get_by_role("button", name="1 new pipeline — Show")
    expect(show).to_be_in_viewport()  # the bar stays in view however far down
    show.click()
    _wait_loaded(page, 121)
    assert _ids(page)[0] == made.id
    link = _row(page, made).get_by_role("link")
    expect(link).to_be_focused()
    expect(link).to_be_in_viewport()
    owner_page.assert_no_console_errors()


def test_it_offers_pipelines_made_elsewhere_with_the_live_check_it_makes_anyway_while_rows_are_at_work(owner_page, owner):
    running = make_pipeline(owner, status="running", outputs=0, created_at=timezone.now() - datetime.timedelta(hours=1))
    page = owner_page.page
    owner_page.goto("/jobs/")
    expect(_row(page, running)).to_be_visible()
    started = len(owner_page.requests)
    make_pipeline(owner, status="completed", outputs=0)
    # No event: the next live check (every 2 to 6 s) carries the bar's question with the rows'.
    expect(page.locator("#newer").get_by_role("button", name="1 new pipeline — Show")).to_be_visible(timeout=9_000)
    page.wait_for_timeout(10_000)
    asked = owner_page.requests[started:]
    assert set(asked) == {("GET", "/jobs/watch")} and len(asked) <= 10, asked  # one request a check, 0.5/s at most
    owner_page.assert_no_console_errors()


def test_it_offers_new_matches_to_an_empty_filtered_list_when_seen_again(owner_page, owner):
    make_pipeline(owner, status="completed", outputs=0)
    page = owner_page.page
    owner_page.goto("/jobs/?status=failed")
    expect(page.get_by_test_id("empty")).to_be_visible()
    make_pipeline(owner, status="completed", outputs=0)  # not failed: never offered here
    _seen_again(page, "focus")
    page.wait_for_timeout(1_000)
    expect(page.locator("#newer").get_by_role("button")).to_have_count(0)

    failed = make_pipeline(owner, name="Failed elsewhere", status="failed", outputs=0)
    _seen_again(page, "focus")
    page.locator("#newer").get_by_role("button", name="1 new pipeline — Show").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(_row(page, failed)).to_contain_text("Failed elsewhere")
    assert page.url.endswith("/jobs/?status=failed")
    owner_page.assert_no_console_errors()


def _ids(page):
    return [int(i.removeprefix("job-")) for i in page.evaluate(LOADED_IDS)]
