import datetime
import json

import pytest
from django.utils import timezone

from conftest import first_page_queries, make_pipeline
from i2v.models import ApiToken


@pytest.fixture
def many(owner):
    start = timezone.now() - datetime.timedelta(days=3)
    return [make_pipeline(owner, created_at=start + datetime.timedelta(minutes=i), tags=["t"] if i % 2 else []) for i in range(12)]


def get(client, url, **headers):
    response = client.get(url, **headers)
    return response, json.loads(response.content)


def test_it_lists_summaries_with_the_pagination_object(owner_client, many):
    response, data = get(owner_client, "/api/pipelines?page_size=5")
    assert response.status_code == 200
    assert [i["id"] for i in data["items"]] == [p.id for p in reversed(many)][:5]
    assert set(data["items"][0]) == {
        "id", "name", "status", "model", "cost", "created_at", "is_favorite",
        "step_count", "output_count", "thumbnail_url", "tags",
    }  # fmt: skip
    page = data["pagination"]
    assert page["page_size"] == 5 and page["has_next"] and not page["has_previous"]
    assert page["total_count"] == 12 and page["total_is_estimate"] is False
    assert page["prev_cursor"] is None and page["next_cursor"]


def test_it_defaults_to_50_per_page(owner_client, owner):
    for _ in range(51):
        make_pipeline(owner, outputs=0)
    _, data = get(owner_client, "/api/pipelines")
    assert len(data["items"]) == 50 and data["pagination"]["has_next"]


def test_it_walks_forward_and_back_without_gaps(owner_client, many):
    expected = [p.id for p in reversed(many)]
    seen, cursor, pages = [], "", []
    while True:
        _, data = get(owner_client, f"/api/pipelines?page_size=5&cursor={cursor}")
        pages.append(data)
        seen += [i["id"] for i in data["items"]]
        if not data["pagination"]["has_next"]:
            break
        cursor = data["pagination"]["next_cursor"]
    assert seen == expected
    assert pages[-1]["pagination"]["total_count"] is None  # only first pages pay for a count
    _, back = get(owner_client, f"/api/pipelines?page_size=5&cursor={pages[-1]['pagination']['prev_cursor']}")
    assert [i["id"] for i in back["items"]] == expected[5:10]
    assert back["pagination"]["has_previous"] and back["pagination"]["has_next"]


def test_it_keeps_summaries_small(owner_client, owner):
    prompt = "a cinematic portrait of a woman in a red coat on a rainy street at night, neon reflections, 35mm, f1.4"
    for i in range(20):
        make_pipeline(owner, name=f"Client campaign autumn look {i}", prompt=prompt, tags=["portrait", "client-acme"], outputs=4)
    response, data = get(owner_client, "/api/pipelines?page_size=20")
    assert len(data["items"]) == 20
    assert len(response.content) <= 6 * 1024, len(response.content)


def test_it_filters_like_the_page(owner_client, owner, many):
    fav = make_pipeline(owner, is_favorite=True, status="failed")
    _, data = get(owner_client, "/api/pipelines?favorites=true&status=failed")
    assert [i["id"] for i in data["items"]] == [fav.id]
    _, data = get(owner_client, "/api/pipelines?tag=t")
    assert len(data["items"]) == 6
    plain = make_pipeline(owner, status="failed")
    _, data = get(owner_client, "/api/pipelines?favorites=0&status=failed")  # 0 is no, not a filter
    assert {i["id"] for i in data["items"]} == {fav.id, plain.id}


@pytest.mark.parametrize(
    "query, field",
    [
        ("cursor=abc", "cursor"), ("page_size=0", "page_size"), ("page_size=1001", "page_size"), ("sort=up", "sort"),
        ("status=x", "status"), ("date_from=2026-13-01", "date_from"), ("favorites=maybe", "favorites"),
    ],  # fmt: skip
)
def test_it_names_the_bad_field_in_a_json_400(owner_client, many, query, field):
    response, data = get(owner_client, f"/api/pipelines?{query}")
    assert response.status_code == 400
    assert data["error"]["field"] == field and data["error"]["message"]


def test_it_answers_401_in_json_without_login(client):
    response, data = get(client, "/api/pipelines")
    assert response.status_code == 401 and data["error"]["code"] == "unauthenticated"


def test_it_accepts_a_bearer_token(client, owner, many):
    token = ApiToken.issue(owner)
    response, data = get(client, "/api/pipelines?page_size=2", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and len(data["items"]) == 2


def test_it_refuses_a_wrong_token(client, many):
    response, data = get(client, "/api/pipelines", HTTP_AUTHORIZATION="Bearer i2v_nope")
    assert response.status_code == 401 and data["error"]["code"] == "bad_token"


def test_it_only_lists_the_callers_pipelines(client, other, many):
    client.force_login(other)
    _, data = get(client, "/api/pipelines")
    assert data["items"] == [] and data["pagination"]["total_count"] == 0


def test_it_refuses_other_methods(owner_client):
    # POST creates a pipeline (test_api_create_pipeline.py); nothing else is allowed.
    assert owner_client.put("/api/pipelines").status_code == 405


def test_it_uses_a_constant_number_of_queries(owner_client, owner, django_assert_num_queries):
    make_pipeline(owner)
    with django_assert_num_queries(first_page_queries()):  # page, total
        get(owner_client, "/api/pipelines")
    for _ in range(60):
        make_pipeline(owner, outputs=2, tags=["x", "y"])
    with django_assert_num_queries(first_page_queries(estimated=True)):  # the same filters, estimated above
        _, data = get(owner_client, "/api/pipelines?page_size=50&sort=cost")
    assert len(data["items"]) == 50


def test_it_serves_repeats_from_the_cache_until_a_write(owner_client, owner, many, django_assert_num_queries, django_capture_on_commit_callbacks):
    get(owner_client, "/api/pipelines")
    with django_assert_num_queries(0):  # nothing: the session and its user are cached too
        get(owner_client, "/api/pipelines")
    with django_capture_on_commit_callbacks(execute=True):
        many[0].rename("Renamed")
    _, data = get(owner_client, "/api/pipelines")
    assert "Renamed" in [i["name"] for i in data["items"]]


@pytest.mark.parametrize("query, found", [("date_to=9999-12-31", 1), ("date_from=9999-12-31", 0), ("date_from=0001-01-01", 1)])
def test_it_takes_dates_at_the_ends_of_the_calendar(owner_client, owner, query, found):
    make_pipeline(owner)
    response = owner_client.get(f"/api/pipelines?{query}")
    assert response.status_code == 200 and len(response.json()["items"]) == found
