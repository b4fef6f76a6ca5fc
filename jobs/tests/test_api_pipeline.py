import json
import re

import pytest
from django.utils import timezone

from conftest import make_big_pipeline, make_pipeline


def test_it_returns_the_full_pipeline(owner_client, owner):
    p = make_pipeline(owner, outputs=3, steps=2, tags=["a"], description="why")
    response = owner_client.get(f"/api/pipelines/{p.id}")
    data = json.loads(response.content)
    assert response.status_code == 200
    assert data["id"] == p.id and data["tags"] == ["a"] and data["description"] == "why"
    assert (data["step_count"], data["output_count"]) == (2, 3)
    assert [s["order"] for s in data["steps"]] == [0, 1]
    assert len(data["outputs"]) == 3
    first = data["outputs"][0]
    asset = p.outputs.order_by("position").first().asset
    assert first["thumbnail_url"] == f"/media/{asset.renditions['300']['name']}"
    assert first["original_url"] == asset.original.url
    assert first["download_url"] == f"/downloads/outputs/{first['id']}"
    assert first["details_url"] == f"/api/images/{asset.id}/details"
    assert data["outputs_pagination"]["has_next"] is False and data["outputs_pagination"]["total_count"] == 3
    assert data["step_summary"] == [{"kind": "i2i", "total": 2, "statuses": {"pending": 2}}]
    assert data["steps_pagination"]["next_url"] is None and data["steps_pagination"]["total_count"] == 2


def test_it_writes_every_time_in_utc_to_the_millisecond(owner_client, owner):
    p = make_pipeline(owner, steps=1)
    p.steps.update(started_at=timezone.now(), finished_at=timezone.now())
    detail = json.loads(owner_client.get(f"/api/pipelines/{p.id}").content)
    listed = json.loads(owner_client.get("/api/pipelines").content)["items"][0]
    times = [detail["created_at"], detail["updated_at"], detail["steps"][0]["started_at"], detail["steps"][0]["finished_at"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in times), times
    assert listed["created_at"] == detail["created_at"][:19] + "Z"  # a list's summary: to the second


def test_it_is_a_json_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    response = client.get(f"/api/pipelines/{p.id}")
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"


# pipeline with tags, step summary, one page of steps, one page of outputs, their assets by id (the user is cached)
DETAIL_QUERIES = 5


def test_it_uses_the_same_queries_for_1_and_50_outputs(owner_client, owner, django_assert_num_queries):
    for n in (1, 50):
        p = make_pipeline(owner, outputs=n, steps=3, tags=["a", "b"])
        with django_assert_num_queries(DETAIL_QUERIES):
            owner_client.get(f"/api/pipelines/{p.id}")


def test_it_uses_the_same_queries_for_5_and_2000_steps(owner_client, owner, django_assert_num_queries):
    for p in (make_pipeline(owner, steps=5, outputs=5), make_big_pipeline(owner)):
        with django_assert_num_queries(DETAIL_QUERIES, info="the detail must not load every step"):
            assert owner_client.get(f"/api/pipelines/{p.id}").status_code == 200


@pytest.mark.parametrize("failed, status, first", [(20, "problems", 1980), (0, "", 0)])
def test_it_summarises_a_big_pipeline_and_pages_its_steps(owner_client, owner, failed, status, first):
    big = make_big_pipeline(owner, failed=failed)
    response = owner_client.get(f"/api/pipelines/{big.id}")
    data = json.loads(response.content)
    assert len(response.content) < 50_000
    video = {"kind": "i2v", "total": 1000, "statuses": {"failed": 20, "completed": 980} if failed else {"completed": 1000}}
    assert data["step_summary"] == [{"kind": "i2i", "total": 1000, "statuses": {"completed": 1000}}, video]
    assert list(data["step_summary"][1]["statuses"])[0] == ("failed" if failed else "completed")  # failures first
    assert len(data["steps"]) == min(50, failed or 2000) and data["steps"][0]["order"] == first
    pagination = data["steps_pagination"]
    assert pagination["status"] == status and pagination["total_count"] == (failed or 2000)
    assert (pagination["next_url"] is None) == bool(failed)
    if not failed:
        assert pagination["next_url"].startswith(f"/api/pipelines/{big.id}/steps?status=&cursor=")
        assert data["outputs_pagination"]["next_url"].startswith(f"/api/pipelines/{big.id}/outputs?cursor=")


def test_it_answers_head_with_the_headers_of_get_and_no_body(owner_client, owner):
    p = make_pipeline(owner, outputs=2)
    got = owner_client.get(f"/api/pipelines/{p.id}")
    head = owner_client.head(f"/api/pipelines/{p.id}")
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Type"] == "application/json" and int(head["Content-Length"]) == len(got.content)
    assert owner_client.head("/api/pipelines/999999").status_code == 404
