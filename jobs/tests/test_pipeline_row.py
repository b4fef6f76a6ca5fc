from conftest import make_pipeline


def test_it_redraws_a_running_row_watched(owner_client, owner):
    p = make_pipeline(owner, status="running")
    response = owner_client.get(f"/jobs/{p.id}/row", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'data-watch={p.id}:{p.version}>' in response.content.decode()


def test_it_redraws_a_finished_row_unwatched(owner_client, owner):
    p = make_pipeline(owner, status="running")
    p.status = "completed"
    p.save()
    response = owner_client.get(f"/jobs/{p.id}/row", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<b>completed</b>" in html and "data-watch" not in html


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner, status="running")
    client.force_login(other)
    assert client.get(f"/jobs/{p.id}/row").status_code == 404
    # Ids no pipeline has, up to past a bigint, are the same 404.
    for pipeline_id in (p.id + 1000, 2**63, 10**30):
        assert client.get(f"/jobs/{pipeline_id}/row").status_code == 404


def test_it_costs_one_query(owner_client, owner, django_assert_num_queries):
    p = make_pipeline(owner, status="running", tags=["a", "b"], outputs=5)
    with django_assert_num_queries(1):  # the annotated row (the session's user is cached)
        owner_client.get(f"/jobs/{p.id}/row")
