"""DELETE /api/images/<id> and POST /api/images/delete: deleting assets from scripts."""

import json

import pytest

from conftest import make_asset, make_pipeline
from i2v.models import ApiToken
from jobs.models import Output, Pipeline
from library.models import Asset, Tombstone, stored_names


@pytest.fixture
def api(client, owner):
    """api(method, url, body): a request with the owner's token; a str body is sent as it is."""
    token = ApiToken.issue(owner)

    def call(method, url, body=None):
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        return getattr(client, method)(url, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    return call


def test_it_deletes_one_asset_with_204_and_buries_its_files(api, owner):
    asset = make_asset(owner)
    response = api("delete", f"/api/images/{asset.id}")
    assert response.status_code == 204 and response.content == b"" and "Content-Type" not in response
    assert not Asset.objects.exists()
    assert set(Tombstone.objects.values_list("name", flat=True)) == set(stored_names(asset.original.name, asset.renditions))


def test_it_is_a_404_for_someone_elses_or_a_missing_asset(api, other):
    theirs = make_asset(other)
    for url in (f"/api/images/{theirs.id}", f"/api/images/{theirs.id + 100}", "/api/images/99999999999999999999999"):
        response = api("delete", url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert Asset.objects.filter(pk=theirs.pk).exists()


def test_it_needs_a_login_and_the_delete_method(client, api, owner):
    asset = make_asset(owner)
    assert client.delete(f"/api/images/{asset.id}").status_code == 401
    response = api("get", f"/api/images/{asset.id}")
    assert response.status_code == 405 and response["Allow"] == "DELETE"
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_it_deletes_many_and_lists_what_it_left_alone(api, owner, other):
    mine = [make_asset(owner) for _ in range(3)]
    theirs = make_asset(other)
    ids = [mine[0].id, theirs.id, mine[2].id, 424242]
    response = api("post", "/api/images/delete", {"ids": ids})
    assert response.status_code == 200
    assert response.json() == {"deleted": [mine[0].id, mine[2].id], "not_found": [theirs.id, 424242]}
    assert set(Asset.objects.values_list("id", flat=True)) == {mine[1].id, theirs.id}


def test_it_removes_deleted_outputs_from_their_pipelines(api, owner):
    pipeline = make_pipeline(owner, outputs=2)
    ids = list(pipeline.outputs.values_list("asset_id", flat=True))
    api("post", "/api/images/delete", {"ids": ids})
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert not Output.objects.exists()
    assert api("get", f"/api/pipelines/{pipeline.id}").json()["outputs"] == []


@pytest.mark.parametrize(
    "body, status, code",
    [
        ("not json", 400, "invalid_json"),
        ([1, 2], 400, "invalid_json"),
        ("[" * 5000 + "]" * 5000, 400, "too_deep"),  # past the parser's recursion
        ('{"ids": ' + "[" * 21 + "1" + "]" * 21 + "}", 400, "too_deep"),  # past API_JSON_MAX_DEPTH
        ({}, 422, "invalid"),
        ({"ids": []}, 422, "invalid"),
        ({"ids": ["424242"]}, 200, None),  # digits as strings are ids too
        ({"ids": [True]}, 422, "invalid"),
        ({"ids": [1.5]}, 422, "invalid"),
        ({"ids": [{"id": 1}]}, 422, "invalid"),
        ({"ids": [2**63]}, 422, "invalid"),
        ({"ids": list(range(1, 1002))}, 422, "invalid"),
    ],
)
def test_it_refuses_bad_bodies_clearly(api, owner, body, status, code):
    asset = make_asset(owner)
    response = api("post", "/api/images/delete", body)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code
    assert Asset.objects.filter(pk=asset.pk).exists()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"ids": [True]}, "true is not an asset id."),
        ({"ids": [{"a": 1}]}, '{"a": 1} is not an asset id.'),
        ('{"ids": [NaN]}', "NaN is not an asset id."),
        ({"ids": ["5.0"]}, "“5.0” is not an asset id."),
    ],
)
def test_it_says_what_is_wrong_in_json_terms(api, owner, body, message):
    asset = make_asset(owner)
    response = api("post", "/api/images/delete", body)
    assert response.status_code == 422 and response.json()["error"]["message"] == message
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_it_takes_ids_only_as_a_list(api, owner):
    asset = make_asset(owner)
    response = api("post", "/api/images/delete", {"ids": str(asset.pk)})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Send “ids” as a list of asset ids."
    assert Asset.objects.filter(pk=asset.pk).exists()
