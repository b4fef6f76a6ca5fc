"""The webhooks page in Chromium: adding a URL however long, and deleting one only once asked."""

import pytest
from playwright.sync_api import expect

from hooks.models import Endpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_adds_a_long_url_without_widening_the_page_and_asks_before_deleting(owner_page, owner):
    page = owner_page.page
    owner_page.goto("/settings/webhooks")
    url = "https://example.com/" + "x" * 470
    page.locator("input[name=url]").fill(url)
    finished = page.get_by_label("pipeline.finished", exact=False)
    box, words = finished.bounding_box(), page.locator("label.inline", has=finished).locator("code").bounding_box()
    assert 0 <= words["x"] - (box["x"] + box["width"]) < 16  # the box sits right before its words
    finished.check()
    page.get_by_role("button", name="Add").click()
    row = page.get_by_test_id("endpoints").locator("tbody tr").first
    expect(row).to_contain_text("x" * 40)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the URL wraps in its cell

    asked = []
    page.once("dialog", lambda dialog: asked.append(dialog.message) or dialog.dismiss())
    row.get_by_role("button", name="Delete").click()
    assert asked == [f"Delete the webhook to {url}? Nothing more is sent to it."]
    assert Endpoint.objects.filter(owner=owner).count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("endpoints")).to_contain_text("No webhook URLs yet.")
    assert not Endpoint.objects.filter(owner=owner).exists()
    owner_page.assert_no_console_errors()
