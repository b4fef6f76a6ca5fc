import json

from conftest import make_pipeline


def test_it_returns_the_full_pipeline(owner_client, owner):
    p = make_pipeline(owner, outputs=3, steps=2, tags=["a"], description="why")
    response = owner_client.get(f"/api/pipelines/{p.id}")
    data = json.loads(response.content)
    assert response.status_code == 200
    assert data["id"] == p.id and data["tags"] == ["a"] and data["description"] == "why"
    assert [s["order"] for s in data["steps"]] == [0, 1]
    assert len(data["outputs"]) == 3
    first = data["outputs"][0]
    asset = p.outputs.order_by("position").first().asset
    assert first["thumbnail_url"] == f"/media/{asset.renditions['300']['name']}"
    assert first["original_url"] == asset.original.url
    assert first["download_url"] == f"/downloads/outputs/{first['id']}"
    assert first["details_url"] == f"/api/images/{asset.id}/details"
    assert data["outputs_pagination"]["has_next"] is False


def test_it_is_a_json_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    response = client.get(f"/api/pipelines/{p.id}")
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"


def test_it_uses_the_same_queries_for_1_and_50_outputs(owner_client, owner, django_assert_num_queries):
    for n in (1, 50):
        p = make_pipeline(owner, outputs=n, steps=3, tags=["a", "b"])
        with django_assert_num_queries(4):  # session user, pipeline with tags, steps, outputs with assets
            owner_client.get(f"/api/pipelines/{p.id}")
