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


def test_it_fits_a_phone_and_changes_an_endpoints_events_keeping_its_secret(owner_page, owner, serial):
    from hooks.events import emit
    from hooks.models import Delivery

    with serial:
        endpoint = Endpoint.objects.create(owner=owner, url="https://example.com/hook?token=" + "a" * 460, events=["pipeline.finished"])
        (delivery,) = emit(owner.pk, "pipeline.finished", {})
        Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=6, error="Gave up after 6 attempts.")
    page = owner_page.page
    page.set_viewport_size({"width": 390, "height": 844})
    owner_page.goto("/settings/webhooks")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    row = page.locator(f"#endpoint-{endpoint.id}")
    # The secret wraps at the row's width, not one or two characters a line.
    assert row.locator("code.secret").bounding_box()["height"] < 3 * 20
    assert page.locator(f"#delivery-{delivery.id} code.url").bounding_box()["height"] < 24  # one line, ellipsized

    row.get_by_text("Change events").click()
    row.get_by_label("pipeline.finished").uncheck()
    row.get_by_label("pipeline.failed").check()
    row.get_by_role("button", name="Save events").click()
    expect(page.locator(f"#endpoint-{endpoint.id} td[data-label=Events]")).to_contain_text("pipeline.failed")
    with serial:
        changed = Endpoint.objects.get(pk=endpoint.pk)
    assert (changed.events, changed.secret) == (["pipeline.failed"], endpoint.secret)
    owner_page.assert_no_console_errors()
