from conftest import make_pipeline


def test_it_removes_the_tag_from_the_row(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner, tags=["keep", "drop"])
    drop = p.tags.get(name="drop")
    owner_client.get("/jobs/?tag=drop", HTTP_HX_REQUEST="true")  # warm the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/jobs/{p.id}/tags/{drop.id}/remove", HTTP_HX_REQUEST="true")
    assert ">drop<" not in response.content.decode() and ">keep<" in response.content.decode()
    assert b'id=row-' not in owner_client.get("/jobs/?tag=drop", HTTP_HX_REQUEST="true").content


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner, tags=["keep"])
    client.force_login(other)
    tag = p.tags.get()
    assert client.post(f"/jobs/{p.id}/tags/{tag.id}/remove").status_code == 404
    assert p.tags.count() == 1


def test_it_is_a_404_for_ids_no_row_can_have(owner_client, owner):
    p = make_pipeline(owner, tags=["keep"])
    tag = p.tags.get()
    for path in (f"/jobs/{p.id}/tags/{2**63}/remove", f"/jobs/{2**63}/tags/{tag.id}/remove", f"/jobs/{p.id}/tags/{'9' * 5000}/remove"):
        assert owner_client.post(path).status_code == 404, path[:40]
    assert p.tags.count() == 1


def test_it_answers_the_pipeline_pages_head_when_asked_from_there(owner_client, owner):
    p = make_pipeline(owner, tags=["keep", "drop"])
    drop = p.tags.get(name="drop")
    html = owner_client.post(f"/jobs/{p.id}/tags/{drop.id}/remove", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"head-{p.id}").content.decode()
    assert f'id="head-{p.id}"' in html and ">keep<form" in html and ">drop<" not in html
    keep = p.tags.get()
    response = owner_client.post(f"/jobs/{p.id}/tags/{keep.id}/remove")  # without JavaScript
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{p.id}/")
    assert not p.tags.exists()
