"""handler404 (i2v/lib/errors.not_found): a page with the navigation, JSON under /api/."""

import json

import pytest

from conftest import make_pipeline


@pytest.mark.parametrize("path", ["/jobs/999999/", "/assets/999999/", "/downloads/assets/999999", "/no-such-page"])
def test_it_shows_a_page_with_the_navigation(owner_client, path):
    response = owner_client.get(path)
    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="not-found"' in html and 'href="/library/"' in html and "Log out" in html


def test_it_tells_someone_elses_pipeline_from_none_by_nothing(client, owner, other):
    pipeline = make_pipeline(owner)
    client.force_login(other)
    theirs, missing = client.get(f"/jobs/{pipeline.id}/"), client.get("/jobs/999999/")
    assert theirs.status_code == missing.status_code == 404
    assert b'data-testid="not-found"' in theirs.content and pipeline.name.encode() not in theirs.content


def test_it_answers_a_missing_file_in_a_few_bytes_of_text(owner_client):
    response = owner_client.get("/media/u/1/no-such-file.jpg")
    assert response.status_code == 404 and response.content == b"Not Found\n"


def test_it_answers_json_under_the_api(owner_client):
    response = owner_client.get("/api/pipelines/999999")
    assert response.status_code == 404 and json.loads(response.content)["error"]["code"] == "not_found"
