from conftest import make_pipeline


def test_it_toggles_and_returns_the_row(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.post(f"/jobs/{p.id}/favorite", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "aria-pressed=true" in response.content.decode()
    p.refresh_from_db()
    assert p.is_favorite
    owner_client.post(f"/jobs/{p.id}/favorite")
    p.refresh_from_db()
    assert not p.is_favorite


def test_it_invalidates_the_cached_list(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    assert owner_client.get("/jobs/?favorites=1", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 0
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/jobs/{p.id}/favorite")
    assert owner_client.get("/jobs/?favorites=1", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 1


def test_it_refuses_get(owner_client, owner):
    p = make_pipeline(owner)
    assert owner_client.get(f"/jobs/{p.id}/favorite").status_code == 405


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/favorite").status_code == 404
    p.refresh_from_db()
    assert not p.is_favorite


def test_it_answers_the_pipeline_pages_head_when_asked_from_there(owner_client, owner):
    p = make_pipeline(owner, name="Starred <b>here</b>")
    response = owner_client.post(f"/jobs/{p.id}/favorite", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"head-{p.id}")
    html = response.content.decode()
    assert response.status_code == 200 and "<tr" not in html
    assert f'<div class="pipeline-head" id="head-{p.id}">' in html and 'aria-pressed="true"' in html
    assert "<h1>Starred &lt;b&gt;here&lt;/b&gt;</h1>" in html
    response = owner_client.post(f"/jobs/{p.id}/favorite")  # the page's plain form, without JavaScript
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{p.id}/")
    p.refresh_from_db()
    assert not p.is_favorite
