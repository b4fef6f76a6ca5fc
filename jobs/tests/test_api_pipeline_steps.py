import json

import pytest

from conftest import make_big_pipeline, make_pipeline


@pytest.fixture
def big(owner):
    return make_big_pipeline(owner, images=60, videos=60, failed=7)


def _get(client, url):
    response = client.get(url)
    return response, json.loads(response.content)


def test_it_pages_through_every_step_in_order_by_next_url(owner_client, big):
    url, orders = f"/api/pipelines/{big.id}/steps?page_size=50", []
    while url:
        response, data = _get(owner_client, url)
        assert response.status_code == 200
        orders += [s["order"] for s in data["items"]]
        url = data["pagination"]["next_url"]
        assert (url is None) != data["pagination"]["has_next"]
    assert orders == list(range(120))


def test_it_filters_by_status(owner_client, big):
    _, data = _get(owner_client, f"/api/pipelines/{big.id}/steps?status=problems")
    assert [s["order"] for s in data["items"]] == list(range(113, 120)) and data["pagination"]["total_count"] == 7
    assert {s["status"] for s in data["items"]} == {"failed"} and data["items"][0]["error"] == "The provider said no."


def test_it_follows_the_detail_s_next_url(owner_client, owner):
    big = make_big_pipeline(owner, images=40, videos=40, failed=0)
    _, detail = _get(owner_client, f"/api/pipelines/{big.id}")
    _, data = _get(owner_client, detail["steps_pagination"]["next_url"])
    assert [s["order"] for s in data["items"]] == list(range(50, 80))


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "eyJvIjoic3RlcCIsImsiOlswLDFdfQ:1tamper:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_it_refuses_a_tampered_cursor_with_a_clear_400(owner_client, big, cursor):
    response, data = _get(owner_client, f"/api/pipelines/{big.id}/steps?cursor={cursor}")
    assert response.status_code == 400
    assert data["error"]["code"] == "invalid_cursor" and data["error"]["field"] == "cursor"
    assert "start again from the first page" in data["error"]["message"]


def test_it_refuses_an_edited_cursor(owner_client, big):
    _, first = _get(owner_client, f"/api/pipelines/{big.id}/steps?page_size=10")
    url = first["pagination"]["next_url"]
    cursor = url.split("cursor=")[1]
    edited = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]  # a changed key, same signature
    response, data = _get(owner_client, url.replace(cursor, edited))
    assert response.status_code == 400 and data["error"]["code"] == "invalid_cursor"


def test_it_refuses_an_outputs_cursor(owner_client, owner):
    p = make_pipeline(owner, outputs=60)
    _, detail = _get(owner_client, f"/api/pipelines/{p.id}")
    cursor = detail["outputs_pagination"]["next_cursor"]
    response, data = _get(owner_client, f"/api/pipelines/{p.id}/steps?cursor={cursor}")
    assert response.status_code == 400 and "another list" in data["error"]["message"]


@pytest.mark.parametrize("query, field", [("status=sleeping", "status"), ("page_size=0", "page_size"), ("page_size=1001", "page_size")])
def test_it_refuses_bad_parameters(owner_client, big, query, field):
    response, data = _get(owner_client, f"/api/pipelines/{big.id}/steps?{query}")
    assert response.status_code == 400 and data["error"]["field"] == field


def test_it_is_a_json_404_for_someone_elses_pipeline(client, other, big):
    client.force_login(other)
    response, data = _get(client, f"/api/pipelines/{big.id}/steps")
    assert response.status_code == 404 and data["error"]["code"] == "not_found"


def test_it_counts_a_first_page_only(owner_client, big):
    _, first = _get(owner_client, f"/api/pipelines/{big.id}/steps?page_size=50")
    _, second = _get(owner_client, first["pagination"]["next_url"])
    assert (first["pagination"]["total_count"], second["pagination"]["total_count"]) == (120, None)
    assert first["pagination"]["total_is_estimate"] is False


def test_it_counts_a_filters_first_page_from_the_step_summary(owner_client, big, django_assert_num_queries):
    with django_assert_num_queries(3):  # pipeline, one page of steps, the summary's counts
        _, data = _get(owner_client, f"/api/pipelines/{big.id}/steps?status=completed&page_size=10")
    assert data["pagination"]["total_count"] == 113


def test_it_costs_the_same_queries_on_any_page(owner_client, big, django_assert_num_queries):
    _, first = _get(owner_client, f"/api/pipelines/{big.id}/steps?page_size=10")
    for url in (f"/api/pipelines/{big.id}/steps?page_size=10", first["pagination"]["next_url"]):
        with django_assert_num_queries(2):  # pipeline id, one page of steps (the user is cached)
            owner_client.get(url)
