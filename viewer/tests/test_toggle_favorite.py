"""POST /assets/<id>/favorite: the viewer's star."""

import pytest

from conftest import make_asset
from jobs.tests.conftest import make_source
from library.models import Asset
from viewer.tests.factories import make_output

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_it_stars_and_unstars_and_redraws_the_panel(owner_client, owner):
    output = make_output(owner, make_source(owner))
    url = f"/assets/{output.asset_id}/favorite?output={output.id}"
    response = owner_client.post(url, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-favorite="true"' in html and 'aria-pressed="true"' in html and "★ Favourite" in html
    assert f"?recall={output.id}" in html  # still the same output's panel
    assert Asset.objects.get(pk=output.asset_id).is_favorite
    owner_client.post(url, **HX)
    assert not Asset.objects.get(pk=output.asset_id).is_favorite


def test_it_goes_back_to_the_asset_page_without_htmx(owner_client, owner):
    asset = make_asset(owner)
    response = owner_client.post(f"/assets/{asset.id}/favorite")
    assert (response.status_code, response["Location"]) == (302, f"/assets/{asset.id}/")
    assert Asset.objects.get(pk=asset.id).is_favorite


def test_it_shows_the_star_on_the_library_tile(owner_client, owner, django_capture_on_commit_callbacks):
    asset = make_asset(owner)
    owner_client.get("/library/")  # cached, then invalidated by the change
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/assets/{asset.id}/favorite", **HX)
    html = owner_client.get("/library/").content.decode()
    assert f'data-viewer-item="{asset.id}" data-kind="image" data-favorite>' in html


def test_it_is_a_404_for_someone_elses_asset_and_changes_nothing(owner_client, other):
    theirs = make_asset(other)
    assert owner_client.post(f"/assets/{theirs.id}/favorite", **HX).status_code == 404
    assert owner_client.post("/assets/99999999999999999999/favorite", **HX).status_code == 404
    assert not Asset.objects.get(pk=theirs.id).is_favorite


def test_it_checks_the_output_before_changing_anything(owner_client, owner, other):
    asset = make_asset(owner)
    theirs = make_output(other, make_source(other))
    assert owner_client.post(f"/assets/{asset.id}/favorite?output={theirs.id}", **HX).status_code == 404
    assert owner_client.post(f"/assets/{asset.id}/favorite?output=x", **HX).status_code == 400
    assert owner_client.post(f"/assets/{asset.id}/favorite?output={'9' * 5000}", **HX).status_code == 400
    assert not Asset.objects.get(pk=asset.id).is_favorite


def test_it_only_accepts_post(owner_client, owner):
    assert owner_client.get(f"/assets/{make_asset(owner).id}/favorite").status_code == 405


def test_it_uses_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries):
    output = make_output(owner, make_source(owner))
    # The details (asset, output, source) and the update; the user comes from the cache.
    with django_assert_num_queries(4):
        owner_client.post(f"/assets/{output.asset_id}/favorite?output={output.id}", **HX)
