import pytest
from django.test import Client

from conftest import make_pipeline
from i2v.models import ApiToken
from jobs.models import Output, Pipeline, Step
from jobs.tests.test_delete import DELETE_QUERIES
from library.models import Asset


def delete(client, pipeline, **headers):
    return client.delete(f"/api/pipelines/{pipeline.id}", **headers)


def test_it_deletes_the_pipeline_with_its_steps_and_outputs_but_not_assets(owner_client, owner):
    p = make_pipeline(owner, outputs=3, steps=2, tags=["a"])
    response = delete(owner_client, p)
    assert response.status_code == 204 and response.content == b""
    assert not Pipeline.objects.filter(pk=p.pk).exists()
    assert not Step.objects.filter(pipeline_id=p.pk).exists() and not Output.objects.filter(pipeline_id=p.pk).exists()
    assert Asset.objects.filter(owner=owner).count() == 3, "the library keeps them"
    assert owner_client.get(f"/api/pipelines/{p.id}").status_code == 404
    assert delete(owner_client, p).status_code == 404, "gone: a second delete finds nothing"


def test_it_drops_the_pipeline_from_the_cached_list(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    assert [i["id"] for i in owner_client.get("/api/pipelines").json()["items"]] == [p.id]
    with django_capture_on_commit_callbacks(execute=True):
        delete(owner_client, p)
    assert owner_client.get("/api/pipelines").json()["items"] == []


def test_it_is_a_404_for_someone_elses_pipeline_or_an_unknown_one(client, owner, other):
    p = make_pipeline(owner)
    client.force_login(other)
    assert delete(client, p).json()["error"]["code"] == "not_found"
    assert client.delete("/api/pipelines/999999999").status_code == 404
    assert Pipeline.objects.filter(pk=p.pk).exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_it_is_a_405_naming_get_and_delete_for_another_method(owner_client, owner, method):
    p = make_pipeline(owner)
    response = getattr(owner_client, method)(f"/api/pipelines/{p.id}")
    assert response.status_code == 405 and response["Allow"] == "GET, DELETE, HEAD"
    assert response.json()["error"]["message"] == "Use GET or DELETE."
    assert Pipeline.objects.filter(pk=p.pk).exists()


def test_it_is_a_401_without_login(client, owner):
    p = make_pipeline(owner)
    assert delete(client, p).status_code == 401
    assert Pipeline.objects.filter(pk=p.pk).exists()


def test_it_accepts_a_bearer_token_and_refuses_a_session_without_csrf(owner):
    p = make_pipeline(owner)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    response = delete(strict, p)
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert Pipeline.objects.filter(pk=p.pk).exists()
    assert delete(Client(enforce_csrf_checks=True), p, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}").status_code == 204
    assert not Pipeline.objects.filter(pk=p.pk).exists()


def test_it_ignores_a_body_it_has_no_use_for(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.delete(f"/api/pipelines/{p.id}", "[" * 100_000 + "\x00", content_type="application/json")
    assert response.status_code == 204


def test_it_deletes_a_big_pipeline_in_the_same_queries_as_the_page_does(owner_client, owner, django_assert_num_queries):
    # The page's delete and this one are the same bulk delete after the same lookup of the row (test_delete.py).
    for p in (make_pipeline(owner, outputs=1, steps=1), make_pipeline(owner, outputs=60, steps=30)):
        with django_assert_num_queries(DELETE_QUERIES):
            assert delete(owner_client, p).status_code == 204
