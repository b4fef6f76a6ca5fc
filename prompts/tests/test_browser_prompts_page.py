"""The Prompts page in Chromium: a list or template is deleted only once asked, a list's question naming
the templates that use it, and those templates are marked once it is gone."""

import pytest
from playwright.sync_api import expect

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
