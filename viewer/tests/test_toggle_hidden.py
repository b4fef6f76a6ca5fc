"""POST /assets/<id>/hide: hide an asset from the Library's default view, from the viewer."""

import pytest

from conftest import make_asset
from library.models import Asset

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_it_hides_an_asset_from_the_library_until_unhidden(owner_client, owner, django_capture_on_commit_callbacks):
    kept, hidden = make_asset(owner), make_asset(owner)
    with django_capture_on_commit_callbacks(execute=True):  # the cached lists are invalidated on commit
        response = owner_client.post(f"/assets/{hidden.id}/hide", **HX)
    assert response.status_code == 200
    assert 'data-hidden="true"' in response.content.decode() and ">Unhide<" in response.content.decode()

    html = owner_client.get("/library/").content.decode()
    assert f'id="asset-{kept.id}"' in html and f'id="asset-{hidden.id}"' not in html
    assert '<option value="only">Only hidden</option>' in html  # the filter that finds them again
    only = owner_client.get("/library/?hidden=only").content.decode()
    assert '<option value="only" selected>Only hidden</option>' in only
    assert f'id="asset-{hidden.id}"' in only and f'id="asset-{kept.id}"' not in only
    assert f'id="asset-{hidden.id}"' in owner_client.get("/library/?hidden=include").content.decode()
    api = owner_client.get("/api/library/images").json()
    assert [item["id"] for item in api["items"]] == [kept.id]

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/assets/{hidden.id}/hide", **HX)
    assert f'id="asset-{hidden.id}"' in owner_client.get("/library/").content.decode()


def test_it_refuses_an_unknown_hidden_filter(owner_client):
    assert owner_client.get("/library/?hidden=maybe").status_code == 400


def test_it_is_a_404_for_someone_elses_asset_and_changes_nothing(owner_client, other):
    theirs = make_asset(other)
    assert owner_client.post(f"/assets/{theirs.id}/hide", **HX).status_code == 404
    assert not Asset.objects.get(pk=theirs.id).is_hidden


def test_it_only_accepts_post(owner_client, owner):
    assert owner_client.get(f"/assets/{make_asset(owner).id}/hide").status_code == 405
