import pytest

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


@pytest.mark.parametrize(
    "page, favorite_first, leaves",
    [
        ("/jobs/?favorites=1", True, True),  # un-starred out of Favourites
        ("/jobs/?favorites=true&hidden=include", True, True),
        ("/jobs/", True, False),  # the default view lists it either way
        ("/jobs/?favorites=0", True, False),
        ("/jobs/?favorites=maybe", True, False),  # a flag no page sends: as if none
        ("/jobs/?favorites=1", False, False),  # starred into its view
        ("/jobs/?favorites=1&hidden=only", False, False),  # a hidden row stays in "Only hidden"
        (None, True, False),  # no page named: the row redrawn
    ],
)
def test_it_takes_the_row_out_of_favourites_when_unstarred(owner_client, owner, page, favorite_first, leaves):
    p = make_pipeline(owner, is_favorite=favorite_first, is_hidden="hidden=only" in (page or ""))
    headers = {"HTTP_HX_REQUEST": "true"} | ({"HTTP_HX_CURRENT_URL": f"http://testserver{page}"} if page else {})
    response = owner_client.post(f"/jobs/{p.id}/favorite", **headers)
    assert response.status_code == 200
    if leaves:
        assert response.content == b"" and response["HX-Retarget"] == f"#job-{p.id}"
        assert response["HX-Trigger"] == '{"totalChanged": {"by": -1, "noun": "pipeline"}}'
    else:
        assert f"id=row-{p.id}" in response.content.decode() and "HX-Trigger" not in response
    p.refresh_from_db()
    assert p.is_favorite is not favorite_first


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
