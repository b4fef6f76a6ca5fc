"""The Prompts page in Chromium: a list or template is deleted only once asked (a dialog, or without
JavaScript a page of its own), a list's question naming the templates that use it, and those templates are
marked once it is gone."""

import re

import pytest
from playwright.sync_api import expect

from i2v.testing.browser import page_without_javascript
from prompts.models import PromptList, PromptTemplate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_asks_before_deleting_a_list_and_marks_the_templates_it_leaves_broken(owner_page, owner, serial):
    with serial:
        PromptList.objects.create(owner=owner, name="outfit", items="cape\nhat")
        PromptTemplate.objects.create(owner=owner, name="cars", text="a {outfit} in a car")
        PromptTemplate.objects.create(owner=owner, name="bikes", text="a {outfit} on a bike")
    page = owner_page.page
    owner_page.goto("/prompts/")
    lists = page.get_by_test_id("lists")
    lists.locator("summary", has_text="outfit").click()
    asked = []
    page.once("dialog", lambda dialog: asked.append(dialog.message) or dialog.dismiss())
    lists.get_by_role("button", name="Delete “outfit”").click()
    assert asked == ["Delete “outfit”? Templates “bikes” and “cars” use it and will stop working."]
    with serial:
        assert owner.prompt_lists.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    lists.get_by_role("button", name="Delete “outfit”").click()
    expect(lists).to_contain_text("No lists yet.")
    expect(page.get_by_test_id("missing-lists")).to_have_count(2)
    expect(page.get_by_test_id("missing-lists").first).to_contain_text("No saved list “outfit”")

    templates = page.get_by_test_id("templates")
    templates.locator("summary", has_text="cars").click()
    page.once("dialog", lambda dialog: asked.append(dialog.message) or dialog.dismiss())
    templates.get_by_role("button", name="Delete “cars”").click()
    assert asked[-1] == "Delete the template “cars”? This cannot be undone."
    with serial:
        assert owner.prompt_templates.count() == 2
    owner_page.assert_no_console_errors()


def test_it_asks_on_a_page_of_its_own_without_javascript(browser, live_server, client, owner, serial):
    with serial:
        PromptList.objects.create(owner=owner, name="outfit", items="cape\nhat")
        PromptTemplate.objects.create(owner=owner, name="<b>cars</b>", text="a {outfit} in a car")
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.goto(f"{live_server.url}/prompts/")
        lists = page.get_by_test_id("lists")
        lists.locator("summary", has_text="outfit").click()
        lists.get_by_role("button", name="Delete “outfit”").click()
        confirm = page.get_by_test_id("confirm")
        expect(confirm).to_contain_text("Delete “outfit”? Template “<b>cars</b>” uses it and will stop working.")
        with serial:
            assert owner.prompt_lists.exists()  # asked first
        page.go_back()  # "Keep it": nothing went
        with serial:
            assert owner.prompt_lists.exists()
        page.goto(f"{live_server.url}/prompts/")
        page.get_by_test_id("lists").locator("summary", has_text="outfit").click()
        page.get_by_test_id("lists").get_by_role("button", name="Delete “outfit”").click()
        page.get_by_test_id("confirm").get_by_role("button", name="Delete “outfit”").click()
        expect(page).to_have_url(re.compile(r"/prompts/$"))
        expect(page.locator(".messages")).to_have_text("Deleted “outfit”.")
        expect(page.get_by_test_id("missing-lists")).to_have_count(1)

        templates = page.get_by_test_id("templates")
        templates.locator("summary", has_text="cars").click()
        templates.get_by_role("button", name="Delete “<b>cars</b>”").click()
        expect(page.get_by_test_id("confirm")).to_contain_text("Delete the template “<b>cars</b>”? This cannot be undone.")
        page.get_by_test_id("confirm").get_by_role("button", name="Delete “<b>cars</b>”").click()
        expect(page.locator(".messages")).to_have_text("Deleted “<b>cars</b>”.")
        expect(page.get_by_test_id("templates")).to_contain_text("No templates yet.")
    with serial:
        assert not owner.prompt_lists.exists() and not owner.prompt_templates.exists()
