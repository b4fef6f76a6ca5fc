"""The Prompts page: saved templates and named lists, each person's own."""

import pytest

from prompts.models import PromptList, PromptTemplate


@pytest.fixture
def saved(owner, other):
    PromptList.objects.create(owner=owner, name="costume", items="pirate\n<b>astronaut</b>")
    PromptTemplate.objects.create(owner=owner, name="cars", text="{red|blue} car & <i>moon</i>")
    PromptList.objects.create(owner=other, name="secret-list", items="hidden")
    PromptTemplate.objects.create(owner=other, name="their-template", text="theirs")


def test_it_shows_only_the_owners_templates_and_lists_escaped(owner_client, saved, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # session, user, lists, templates
        response = owner_client.get("/prompts/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "costume" in html and "&lt;b&gt;astronaut&lt;/b&gt;" in html and "{red|blue} car &amp; &lt;i&gt;moon&lt;/i&gt;" in html
    assert "secret-list" not in html and "their-template" not in html
    assert "<b>astronaut" not in html


def test_it_requires_login(client):
    assert client.get("/prompts/").status_code == 302


def test_it_saves_a_list_tidied(owner_client, owner):
    response = owner_client.post("/prompts/lists", {"name": "Costume", "items": " pirate \n\n clown\npirate\n"})
    assert response.status_code == 302
    assert owner.prompt_lists.get().values() == ["pirate", "clown"]
    assert owner.prompt_lists.get().name == "costume"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "two words", "items": "x"}, "List names use lowercase letters"),
        ({"name": "ok", "items": " \n "}, "This field is required."),
        ({"name": "ok", "items": "\n".join(f"x{n}" for n in range(501))}, "At most 500 items (got 501)."),
        ({"name": "ok", "items": "short\n" + "y" * 2001}, "Item 2 is 2,001 characters; an item may be at most 2,000."),
    ],
)
def test_it_refuses_bad_lists(owner_client, owner, data, message):
    response = owner_client.post("/prompts/lists", data)
    assert response.status_code == 422 and message in response.content.decode()
    assert not owner.prompt_lists.exists()


def test_it_refuses_a_second_list_of_the_same_name(owner_client, owner, saved):
    response = owner_client.post("/prompts/lists", {"name": "costume", "items": "x"})
    assert response.status_code == 422 and "You already have a list named “costume”." in response.content.decode()


def test_it_renames_a_list_in_the_templates_that_use_it(owner_client, owner, other, saved):
    costume = owner.prompt_lists.get(name="costume")
    uses = PromptTemplate.objects.create(owner=owner, name="dress-up", text="a {costume} and a {\u00a0COSTUME } at {dawn|costume}\n\\{costume} \\\\{costume}")
    theirs = PromptTemplate.objects.create(owner=other, name="theirs-too", text="{costume}")
    response = owner_client.post(f"/prompts/lists/{costume.id}", {"name": "outfit", "items": "pirate"})
    assert response.status_code == 302
    uses.refresh_from_db()
    # A reference follows; alternatives, an escaped brace and other people's templates don't.
    assert uses.text == "a {outfit} and a {outfit} at {dawn|costume}\n\\{costume} \\\\{outfit}"
    assert PromptTemplate.objects.get(pk=theirs.pk).text == "{costume}"
    assert owner.prompt_templates.get(name="cars").text == "{red|blue} car & <i>moon</i>"


def test_it_saves_a_template_that_uses_a_list(owner_client, owner, saved):
    response = owner_client.post("/prompts/templates", {"name": "dress-up", "text": "a {costume} at {dawn|dusk}"})
    assert response.status_code == 302 and owner.prompt_templates.filter(name="dress-up").exists()


def test_it_keeps_a_template_name_to_one_line_of_plain_characters(owner_client, owner, saved):
    before = set(owner.prompt_templates.values_list("name", flat=True))
    for name in ("two\r\nlines", "\u202eevil"):
        assert owner_client.post("/prompts/templates", {"name": name, "text": "{costume} bike"}).status_code == 302
    assert set(owner.prompt_templates.values_list("name", flat=True)) - before == {"evil", "two lines"}
    refused = owner_client.post("/prompts/templates", {"name": "\u202e\u200b", "text": "x"})
    assert refused.status_code == 422 and "Give the template a name." in refused.content.decode()


@pytest.mark.parametrize(
    "text, message",
    [
        ("a {red|{blue}}", "Braces can&#x27;t be nested (line 1, column 8)"),
        ("a {red", "“{” at line 1, column 3 is never closed."),
        ("a {nobody}", "You have no saved list named “nobody”."),
    ],
)
def test_it_refuses_a_template_that_does_not_expand(owner_client, owner, text, message):
    response = owner_client.post("/prompts/templates", {"name": "bad", "text": text})
    assert response.status_code == 422 and message in response.content.decode()
    assert not owner.prompt_templates.exists()


def test_it_edits_and_deletes_only_the_owners(owner_client, owner, other, saved):
    mine, theirs = owner.prompt_lists.get(), other.prompt_lists.get()
    assert owner_client.post(f"/prompts/lists/{mine.pk}", {"name": "outfit", "items": "cape"}).status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.items) == ("outfit", "cape")
    assert owner_client.post(f"/prompts/lists/{theirs.pk}", {"name": "x", "items": "y"}).status_code == 404
    assert owner_client.post(f"/prompts/lists/{theirs.pk}/delete", {"confirm": "1"}).status_code == 404
    template = owner.prompt_templates.get()
    assert owner_client.post(f"/prompts/templates/{template.pk}/delete", {"confirm": "1"}).status_code == 302
    assert not owner.prompt_templates.exists() and other.prompt_lists.exists()


def test_it_is_a_404_to_edit_a_list_or_template_no_row_can_be(owner_client, owner, saved):
    lists, templates = owner.prompt_lists.count(), owner.prompt_templates.count()
    for kind, data in (("lists", {"name": "new", "items": "a"}), ("templates", {"name": "new", "text": "a"})):
        for pk in (0, 2**63, "9" * 5000):
            assert owner_client.post(f"/prompts/{kind}/{pk}", data).status_code == 404, (kind, str(pk)[:20])
    assert (owner.prompt_lists.count(), owner.prompt_templates.count()) == (lists, templates)  # nothing made instead


@pytest.fixture
def outfit(owner):
    """A list two templates use, and a template that uses none."""
    PromptList.objects.create(owner=owner, name="outfit", items="cape\nhat")
    PromptTemplate.objects.create(owner=owner, name="vans", text="a {outfit} in a van")
    PromptTemplate.objects.create(owner=owner, name="bikes", text="a {red|blue} bike\na { Outfit } on a bike")
    PromptTemplate.objects.create(owner=owner, name="plain", text="a {red|blue} boat")
    return owner.prompt_lists.get(name="outfit")


def test_it_asks_before_deleting_a_list_naming_the_templates_that_use_it(owner_client, outfit, saved):
    html = owner_client.get("/prompts/").content.decode()
    assert 'data-confirm="Delete “outfit”? Templates “bikes” and “vans” use it and will stop working."' in html
    assert 'data-confirm="Delete “costume”? No template uses it."' in html
    assert 'data-confirm="Delete the template “plain”? This cannot be undone."' in html


def test_it_names_the_one_template_that_uses_a_list(owner_client, owner, outfit):
    owner.prompt_templates.filter(name="bikes").delete()
    html = owner_client.get("/prompts/").content.decode()
    assert 'data-confirm="Delete “outfit”? Template “vans” uses it and will stop working."' in html


def test_it_marks_the_templates_whose_list_was_deleted(owner_client, owner, outfit, django_assert_max_num_queries):
    assert owner_client.post(f"/prompts/lists/{outfit.id}/delete", {"confirm": "1"}).status_code == 302
    with django_assert_max_num_queries(4):  # session, user, lists, templates: the marks are worked out from them
        html = owner_client.get("/prompts/").content.decode()
    for name in ("vans", "bikes"):
        template = owner.prompt_templates.get(name=name)
        row = html.split(f'id="template-{template.id}"')[1].split("</summary>")[0]
        assert 'data-testid="missing-lists"' in row and "No saved list “outfit”: this template makes no prompts until it exists" in row
    plain = owner.prompt_templates.get(name="plain")
    assert 'data-testid="missing-lists"' not in html.split(f'id="template-{plain.id}"')[1].split("</summary>")[0]


def test_it_sends_a_reload_of_a_form_address_to_the_page(owner_client, owner, saved):
    """A form with an error is drawn at the URL it posted to; a reload (or a new tab) of it GETs that URL."""
    response = owner_client.post("/prompts/lists", {"name": "two words", "items": "x"})
    assert response.status_code == 422
    mine, template = owner.prompt_lists.get(), owner.prompt_templates.get()
    # (A delete's address is its confirmation page: prompts/tests/test_delete.py.)
    for path in ("/prompts/lists", f"/prompts/lists/{mine.id}", "/prompts/templates", f"/prompts/templates/{template.id}"):
        for method in (owner_client.get, owner_client.head):
            response = method(path)
            assert (response.status_code, response["Location"]) == (302, "/prompts/"), path
    assert owner.prompt_lists.exists() and owner.prompt_templates.exists()  # a GET deletes nothing


def test_it_shows_a_page_for_another_method(owner_client, saved):
    response = owner_client.put("/prompts/lists")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD, POST"
    assert 'data-testid="method-not-allowed"' in response.content.decode()
