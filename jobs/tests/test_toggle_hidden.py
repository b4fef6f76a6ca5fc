import pytest

from conftest import make_pipeline


def test_it_hides_and_unhides(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    owner_client.get("/jobs/", HTTP_HX_REQUEST="true")  # warm the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/jobs/{p.id}/hide", HTTP_HX_REQUEST="true")
    assert 'class="s-pending is-hidden"' in response.content.decode()  # dimmed in place
    assert b'id=row-' not in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/jobs/{p.id}/hide")
    p.refresh_from_db()
    assert not p.is_hidden


@pytest.mark.parametrize(
    "page, hidden_first, leaves",
    [
        ("/jobs/", False, True),  # hidden out of the default view
        ("/jobs/?status=&hidden=&q=", False, True),
        ("/jobs/?hidden=only", True, True),  # unhidden out of "Only hidden"
        ("/jobs/?hidden=include", False, False),  # dimmed in place
        ("/jobs/?hidden=only", False, False),  # hidden into its view
        (None, False, False),  # no page named: the row redrawn
        ("http://[::1/jobs/", False, False),  # a header no browser sends: the row redrawn, no 500
    ],
)
def test_it_takes_the_row_out_of_a_view_it_leaves(owner_client, owner, page, hidden_first, leaves):
    p = make_pipeline(owner, is_hidden=hidden_first)
    headers = {"HTTP_HX_REQUEST": "true"} | ({"HTTP_HX_CURRENT_URL": page if "://" in page else f"http://testserver{page}"} if page else {})
    response = owner_client.post(f"/jobs/{p.id}/hide", **headers)
    assert response.status_code == 200
    if leaves:
        assert response.content == b"" and response["HX-Retarget"] == f"#job-{p.id}" and response["HX-Reswap"] == "outerHTML"
        assert response["HX-Trigger"] == '{"totalChanged": {"by": -1, "noun": "pipeline"}}'  # app.js lowers the total
    else:
        assert f"id=row-{p.id}" in response.content.decode() and "HX-Trigger" not in response
    p.refresh_from_db()
    assert p.is_hidden is not hidden_first


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/hide").status_code == 404


def test_it_answers_the_pipeline_pages_head_when_asked_from_there(owner_client, owner):
    p = make_pipeline(owner)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"head-{p.id}", "HTTP_HX_CURRENT_URL": f"http://testserver/jobs/{p.id}/"}
    html = owner_client.post(f"/jobs/{p.id}/hide", **headers).content.decode()
    assert f'id="head-{p.id}"' in html and "Hidden from the Jobs list" in html and "<button>Unhide</button>" in html
    assert "HX-Trigger" not in owner_client.post(f"/jobs/{p.id}/hide", **headers)  # nothing leaves a list
    response = owner_client.post(f"/jobs/{p.id}/hide")
    assert (response.status_code, response["Location"]) == (302, f"/jobs/{p.id}/")
    p.refresh_from_db()
    assert p.is_hidden
