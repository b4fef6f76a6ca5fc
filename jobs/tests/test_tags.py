from conftest import make_pipeline
from jobs.models import Tag


def test_it_shows_the_editor_with_quick_tags(owner_client, owner):
    make_pipeline(owner, tags=["portrait", "client-acme"])
    make_pipeline(owner, tags=["portrait"])
    p = make_pipeline(owner, tags=["client-acme"])
    html = owner_client.get(f"/jobs/{p.id}/tags", HTTP_HX_REQUEST="true").content.decode()
    assert 'value="portrait"' in html  # most used tag not on this pipeline yet
    assert 'value="client-acme"' not in html
    assert f"/jobs/{p.id}/tags/" in html  # its current tag can be removed


def test_it_adds_a_tag_and_returns_the_row(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.post(f"/jobs/{p.id}/tags", {"name": " New-Tag "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert ">new-tag<" in response.content.decode()
    assert list(p.tags.values_list("name", flat=True)) == ["new-tag"]
    owner_client.post(f"/jobs/{p.id}/tags", {"name": "new-tag"})
    assert p.tags.count() == 1 and Tag.objects.filter(owner=owner).count() == 1


def test_it_rejects_bad_names_in_place(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.post(f"/jobs/{p.id}/tags", {"name": "<script>x</script>"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#row-menu"
    assert "lowercase letters, digits and dashes" in response.content.decode()
    assert "<script>" not in response.content.decode()
    assert 'value="&lt;script&gt;x&lt;/script&gt;"' in response.content.decode()  # what was typed, kept to mend
    assert not Tag.objects.exists()


def test_it_keeps_each_users_tags_apart(owner_client, owner, other):
    theirs = Tag.objects.create(owner=other, name="shared")
    p = make_pipeline(owner)
    owner_client.post(f"/jobs/{p.id}/tags", {"name": "shared"})
    assert p.tags.get().owner == owner and p.tags.get() != theirs


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/tags", {"name": "x"}).status_code == 404
    assert client.get(f"/jobs/{p.id}/tags").status_code == 404


def test_it_refuses_a_tag_past_the_twentieth_in_place(owner_client, owner):
    """20 tags a pipeline (MAX_TAGS: what a row shows, and what its list index entries hold);
    one it has already is still fine to add again."""
    p = make_pipeline(owner, tags=[f"t{i}" for i in range(20)])
    response = owner_client.post(f"/jobs/{p.id}/tags", {"name": "one-more"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#row-menu"
    assert "at most 20 tags" in response.content.decode()
    assert p.tags.count() == 20 and not Tag.objects.filter(name="one-more").exists()
    assert owner_client.post(f"/jobs/{p.id}/tags", {"name": "t3"}, HTTP_HX_REQUEST="true").status_code == 200
    assert p.tags.count() == 20


def test_it_answers_the_pipeline_pages_head_when_asked_from_there(owner_client, owner):
    make_pipeline(owner, tags=["portrait"])
    p = make_pipeline(owner)
    head = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"head-{p.id}"}
    html = owner_client.post(f"/jobs/{p.id}/tags", {"name": "new-tag"}, **head).content.decode()
    assert f'id="head-{p.id}"' in html and ">new-tag<form" in html and "<tr" not in html
    assert 'class="quick" name="name" value="portrait"' in html  # the quick tags, as in the row's editor
    refused = owner_client.post(f"/jobs/{p.id}/tags", {"name": "<b>"}, **head)
    html = refused.content.decode()
    assert refused.status_code == 422 and "HX-Retarget" not in refused
    assert "<details open><summary>Tags…</summary>" in html and "lowercase letters, digits and dashes" in html
    response = owner_client.post(f"/jobs/{p.id}/tags", {"name": "plain-form"})  # without JavaScript
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{p.id}/")
    assert sorted(p.tags.values_list("name", flat=True)) == ["new-tag", "plain-form"]
