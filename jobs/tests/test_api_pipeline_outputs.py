import json

from conftest import make_pipeline


def test_it_pages_outputs_by_cursor(owner_client, owner):
    p = make_pipeline(owner, outputs=7)
    seen, url, totals = [], f"/api/pipelines/{p.id}/outputs?page_size=3", []
    while url:
        data = json.loads(owner_client.get(url).content)
        seen += [o["position"] for o in data["items"]]
        totals.append(data["pagination"]["total_count"])
        url = data["pagination"]["next_url"]  # the same page size, the next cursor
    assert seen == list(range(7))
    assert totals == [7, None, None]  # counted on the first page, as every list


def test_it_rejects_a_cursor_from_another_list(owner_client, owner):
    p = make_pipeline(owner, outputs=3)
    other_cursor = json.loads(owner_client.get("/api/pipelines?page_size=1").content)["pagination"]["next_cursor"]
    make_pipeline(owner)
    response = owner_client.get(f"/api/pipelines/{p.id}/outputs?cursor={other_cursor}")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["field"] == "cursor"


def test_it_rejects_a_bad_page_size(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.get(f"/api/pipelines/{p.id}/outputs?page_size=abc")
    assert response.status_code == 400 and json.loads(response.content)["error"]["field"] == "page_size"


def test_it_is_a_json_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.get(f"/api/pipelines/{p.id}/outputs").status_code == 404


def test_it_uses_the_same_queries_for_1_and_50_outputs(owner_client, owner, django_assert_num_queries):
    for n in (1, 50):
        p = make_pipeline(owner, outputs=n)
        with django_assert_num_queries(3):  # pipeline id, outputs, their assets by id (the user is cached)
            owner_client.get(f"/api/pipelines/{p.id}/outputs?page_size=50")
