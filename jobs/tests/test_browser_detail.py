"""A big pipeline's expanded row in a real browser: its summary, failures first, and the rest of its
steps a click away (jobs/detail.py, pipeline_detail.html#steps), through htmx."""

import pytest
from playwright.sync_api import expect

from conftest import make_big_pipeline

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
