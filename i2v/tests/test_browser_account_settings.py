"""The settings page's API token in a real browser: made, copied, and replaced only once confirmed."""

import pytest
from playwright.sync_api import expect

from i2v.models import ApiToken

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_copies_a_new_token_and_asks_before_replacing_it(owner_page, owner, serial):
    page = owner_page.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    owner_page.goto("/settings/")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text()
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("#toast")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token

    owner_page.goto("/settings/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Replace token").click()
    assert asked == ["Replace your API token? Scripts that use the current one stop working at once."]
    with serial:
        assert ApiToken.objects.get(user=owner).prefix == token[:10]  # not replaced

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replace token").click()
    expect(page.get_by_test_id("new-token")).not_to_have_text(token)
    owner_page.assert_no_console_errors()


def test_it_revokes_the_token_only_once_confirmed(owner_page, owner, serial):
    with serial:
        ApiToken.issue(owner)
    page = owner_page.page
    owner_page.goto("/settings/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Revoke token").click()
    assert asked == ["Revoke your API token? Scripts that use it stop working at once, and there is no token until you create one."]
    with serial:
        assert ApiToken.objects.filter(user=owner).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_test_id("revoked")).to_be_visible()
    expect(page.get_by_role("button", name="Create token")).to_be_visible()
    with serial:
        assert not ApiToken.objects.filter(user=owner).exists()
    owner_page.assert_no_console_errors()
