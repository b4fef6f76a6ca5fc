"""The pages on a 375 px phone: nothing scrolls sideways, and the Jobs rows keep their names readable.

Screenshots of each page go to the test's temporary directory (I2V_SCREENSHOTS=dir keeps them elsewhere)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import make_pipeline
from jobs.tests.conftest import make_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@pytest.fixture
def phone(owner_page, tmp_path):
    owner_page.page.set_viewport_size({"width": 375, "height": 812})
    folder = Path(os.environ.get("I2V_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def visit(path, name):
        owner_page.goto(path)
        owner_page.page.wait_for_load_state("networkidle")
        owner_page.page.screenshot(path=str(folder / f"375-{name}.png"), full_page=True)
        scroll, client = owner_page.page.evaluate(OVERFLOW)
        assert scroll <= client, f"{path} scrolls sideways at 375 px: {scroll} > {client}"
        return owner_page.page

    visit.owner_page = owner_page
    return visit


@pytest.fixture
def data(owner):
    source = make_source(owner)
    long_name = "Client campaign — autumn look with a long descriptive name"
    pipelines = [make_pipeline(owner, name=f"{long_name} {i}", tags=["portrait", "client-acme"]) for i in range(3)]
    make_pipeline(owner, name="Cancelled one", status="cancelled")
    make_pipeline(owner, name="Running one", status="running", planned_steps=40, progress_done=12)
    failed = make_pipeline(owner, name="Failed one", status="failed")
    failed.steps.update(status="failed", error="The provider refused the request: the prompt was flagged by its content policy.")
    return {"source": source, "pipelines": pipelines, "failed": failed}


def test_it_fits_the_jobs_page_and_keeps_the_names_readable(phone, data):
    page = phone("/jobs/", "jobs")
    name = page.locator(f"#row-{data['pipelines'][0].id} [data-part=name] a")
    expect(name).to_be_visible()
    assert name.evaluate("e => e.getBoundingClientRect().width") >= 120, "the name shrank to nothing"
    # Every status badge whole: "COMPLETED" and "CANCELLED" lost their last letter to the column.
    cut = page.locator("[data-part=status] b").evaluate_all("els => els.filter(b => b.scrollWidth > b.clientWidth || b.getBoundingClientRect().right > b.closest('td').getBoundingClientRect().right).map(b => b.textContent)")
    assert cut == [], f"badges cut short: {cut}"
    page.locator(f"#row-{data['failed'].id} button[aria-expanded]").click()
    expect(page.locator(f"#row-{data['failed'].id} + tr.detail td.error")).to_contain_text("content policy")
    scroll, client = page.evaluate(OVERFLOW)
    assert scroll <= client, "an expanded row scrolls the page sideways"
    phone.owner_page.assert_no_console_errors()


def test_it_fits_the_top_bar_of_a_staff_user_with_a_long_name(phone, owner):
    # make run's demo login is staff: its bar has Admin, and "Log out <name>" beside the links.
    owner.is_staff = True
    owner.username = "demo-with-a-rather-long-name"
    owner.save()
    page = phone("/jobs/", "topbar-staff")
    expect(page.locator(".topbar nav a", has_text="Admin")).to_be_visible()
    expect(page.locator(".topbar .logout button")).to_be_visible()


def test_it_fits_the_library(phone, data):
    phone("/library/", "library")
    phone.owner_page.assert_no_console_errors()


def test_it_fits_the_new_pipeline_page(phone, data, owner):
    for _ in range(5):
        make_source(owner)
    page = phone(f"/pipelines/new?assets={data['source'].id}", "new-pipeline")
    # The source tiles share the width in as many columns as fit (two 96 px ones left a third of it empty).
    tops = page.locator("[data-testid=sources] .source").evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert tops[:3] == [tops[0]] * 3, tops
    # "…or upload new ones (they join your library too)." is one sentence: on a wide screen, one line (the
    # link was a block of its own, the sentence three lines).
    page.set_viewport_size({"width": 1400, "height": 900})
    assert page.locator("label.upload-sources").evaluate("l => l.getBoundingClientRect().top - l.closest('p').getBoundingClientRect().top") < 4
    phone.owner_page.assert_no_console_errors()


def test_it_fits_a_pipeline_detail_page(phone, data):
    phone(f"/jobs/{data['failed'].id}/", "pipeline-detail")
    phone.owner_page.assert_no_console_errors()
