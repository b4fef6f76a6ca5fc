"""Deleting a prompt list or template (views.delete_list, delete_template): the page's button asks with
JavaScript and sends confirm=1; without it the form lands on a confirmation page that asks the same."""

import pytest

from prompts.models import PromptList, PromptTemplate


@pytest.fixture
def outfit(owner, other):
    """A list two templates use (one of them named with HTML), a template that uses none, and someone else's."""
    PromptTemplate.objects.create(owner=owner, name="vans <b>", text="a {outfit} in a van")
    PromptTemplate.objects.create(owner=owner, name="bikes", text="a { Outfit } on a bike")
    PromptTemplate.objects.create(owner=owner, name="plain", text="a {red|blue} boat")
    PromptTemplate.objects.create(owner=other, name="theirs", text="a {outfit} of theirs")
    PromptList.objects.create(owner=other, name="outfit", items="hidden")
    return PromptList.objects.create(owner=owner, name="outfit", items="cape\nhat")


# session, user, the list, the templates that mention it
CONFIRM_QUERIES = 4


def test_it_asks_on_a_page_naming_the_templates_a_list_serves(owner_client, owner, outfit, django_assert_max_num_queries):
    with django_assert_max_num_queries(CONFIRM_QUERIES):
        response = owner_client.get(f"/prompts/lists/{outfit.id}/delete")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Delete “outfit”? Templates “bikes” and “vans &lt;b&gt;” use it and will stop working." in html
    assert f'action="/prompts/lists/{outfit.id}/delete"' in html and '<input type="hidden" name="confirm" value="1">' in html
    assert "<b>" not in html.split("<main ")[1] and "theirs" not in html
    assert owner_client.head(f"/prompts/lists/{outfit.id}/delete").status_code == 200
    assert owner.prompt_lists.filter(pk=outfit.pk).exists()  # GET and HEAD delete nothing


def test_it_asks_before_deleting_a_template(owner_client, owner, outfit, django_assert_max_num_queries):
    template = owner.prompt_templates.get(name="vans <b>")
    with django_assert_max_num_queries(3):  # session, user, the template
        html = owner_client.get(f"/prompts/templates/{template.id}/delete").content.decode()
    assert "Delete the template “vans &lt;b&gt;”? This cannot be undone." in html
    assert owner.prompt_templates.filter(pk=template.pk).exists()


def test_it_sends_an_unconfirmed_delete_to_its_confirmation_page(owner_client, owner, outfit):
    # A plain form without JavaScript (no one asked): nothing goes yet.
    template = owner.prompt_templates.get(name="plain")
    for path in (f"/prompts/lists/{outfit.id}/delete", f"/prompts/templates/{template.id}/delete"):
        for data in ({}, {"confirm": "yes"}, {"confirm": "1\x00"}):
            response = owner_client.post(path, data)
            assert (response.status_code, response["Location"]) == (302, path), data
    assert owner.prompt_lists.filter(pk=outfit.pk).exists() and owner.prompt_templates.filter(pk=template.pk).exists()


def test_it_deletes_once_confirmed_and_says_so(owner_client, owner, outfit):
    template = owner.prompt_templates.get(name="vans <b>")
    response = owner_client.post(f"/prompts/templates/{template.id}/delete", {"confirm": "1"}, follow=True)
    assert response.redirect_chain == [("/prompts/", 302)]
    assert "Deleted “vans &lt;b&gt;”." in response.content.decode()
    assert owner_client.post(f"/prompts/lists/{outfit.id}/delete", {"confirm": "1"}).status_code == 302
    assert list(owner.prompt_templates.values_list("name", flat=True)) == ["bikes", "plain"]
    assert not owner.prompt_lists.exists() and PromptList.objects.filter(name="outfit").count() == 1  # theirs stays


def test_it_is_a_404_for_someone_elses_or_no_row(owner_client, other, outfit):
    theirs = other.prompt_lists.get()
    their_template = other.prompt_templates.get()
    for path in (f"/prompts/lists/{theirs.id}/delete", f"/prompts/templates/{their_template.id}/delete",
                 "/prompts/lists/0/delete", f"/prompts/templates/{2**63}/delete"):  # fmt: skip
        assert owner_client.get(path).status_code == 404, path
        assert owner_client.post(path, {"confirm": "1"}).status_code == 404, path
    assert other.prompt_lists.exists() and other.prompt_templates.exists()


def test_it_shows_a_page_for_another_method(owner_client, outfit):
    response = owner_client.put(f"/prompts/lists/{outfit.id}/delete")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD, POST"
