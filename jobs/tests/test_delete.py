import threading

import psycopg
import pytest
from django.db import connection

from conftest import make_asset, make_pipeline, wait_for_a_lock_wait
from jobs.models import Output, Pipeline, Step
from library.models import Asset


def test_it_deletes_the_pipeline_with_its_steps_and_outputs_but_not_assets(owner_client, owner):
    p = make_pipeline(owner, outputs=3, steps=2)
    response = owner_client.post(f"/jobs/{p.id}/delete", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Trigger"] == '{"totalChanged": {"by": -1, "noun": "pipeline"}}'  # app.js lowers the total
    assert not Pipeline.objects.filter(pk=p.pk).exists()
    assert not Step.objects.filter(pipeline_id=p.pk).exists()
    assert not Output.objects.filter(pipeline_id=p.pk).exists()
    assert Asset.objects.filter(owner=owner).count() == 3  # the library keeps them


def test_it_drops_the_row_from_the_cached_list(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    assert b'id=row-' in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/jobs/{p.id}/delete")
    assert b'id=row-' not in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/delete").status_code == 404
    assert Pipeline.objects.filter(pk=p.pk).exists()


def test_it_deletes_a_big_pipeline_in_the_same_few_queries_as_a_small_one(
    owner_client, owner, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # No step or output is loaded into memory, and no per-row signal queues a cache write.
    small, big = make_pipeline(owner, outputs=1, steps=1), make_pipeline(owner, outputs=60, steps=30)
    for pipeline in (small, big):
        with django_capture_on_commit_callbacks() as callbacks:
            with django_assert_num_queries(DELETE_QUERIES):
                owner_client.post(f"/jobs/{pipeline.id}/delete", HTTP_HX_REQUEST="true")
        assert len(callbacks) == 1, "one bump of the owner's Jobs lists"
    assert not Step.objects.exists() and not Output.objects.exists()
    assert Asset.objects.filter(owner=owner).count() == 61


def test_it_deletes_many_pipelines_at_once_with_one_bump(owner_client, owner, django_capture_on_commit_callbacks):
    pipelines = [make_pipeline(owner, outputs=5, steps=3, tags=["a", "b"]) for _ in range(6)]
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post("/jobs/bulk", {"action": "delete", "ids": [p.id for p in pipelines]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert len(callbacks) == 1
    assert not Pipeline.objects.exists() and not Step.objects.exists() and not Output.objects.exists()
    assert Asset.objects.count() == 30


# The row (the session's user is cached), then in a transaction (a savepoint in a test) the
# pipelines' rows locked, and one statement per table by subquery: tags, outputs and remote
# requests (by step, then by pipeline), steps, the import records that point at it (set to NULL), pipelines.
DELETE_QUERIES = 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between two connections: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_deletes_a_pipeline_whose_step_is_finishing(owner):
    """A step finishing holds its pipeline's row and writes its output (another connection here,
    as Step.finish() does); a delete meanwhile waits for it, then deletes that output too. Taking
    the steps first, it deleted the step under the new output, which failed at commit."""
    p = make_pipeline(owner, steps=1, outputs=0)
    step, asset = p.steps.get(), make_asset(owner)
    params, deleted = connection.get_connection_params(), []

    def delete():
        try:
            deleted.append(Pipeline.objects.filter(pk=p.pk).apply_bulk("delete", owner))
        except Exception as error:
            deleted.append(repr(error))
        finally:
            connection.close()  # this thread's own

    with psycopg.connect(**params) as finishing:
        finishing.execute("SELECT 1 FROM jobs_pipeline WHERE id = %s FOR UPDATE", [p.pk])
        finishing.execute(
            "INSERT INTO jobs_output (owner_id, step_id, pipeline_id, asset_id, position) VALUES (%s, %s, %s, %s, 0)",
            [owner.pk, step.pk, p.pk, asset.pk],
        )
        deleting = threading.Thread(target=delete)
        deleting.start()
        wait_for_a_lock_wait(params)
        finishing.commit()
        deleting.join(30)
    assert deleted == [[]]
    assert not Pipeline.objects.filter(pk=p.pk).exists() and not Output.objects.filter(step_id=step.pk).exists()
    assert Asset.objects.filter(pk=asset.pk).exists()  # the library keeps it


def test_it_lands_on_the_jobs_page_saying_so_when_deleted_from_the_pipelines_page(owner_client, owner):
    p, kept = make_pipeline(owner, name="Gone <soon>"), make_pipeline(owner, name="Kept")
    response = owner_client.post(f"/jobs/{p.id}/delete")  # the page's plain form, behind its question
    assert (response.status_code, response["Location"]) == (302, "/jobs/")
    html = owner_client.get("/jobs/").content.decode()
    assert '<ul class="messages" role="status"><li>Deleted “Gone &lt;soon&gt;”.</li></ul>' in html
    assert "Deleted" not in owner_client.get("/jobs/").content.decode()  # said once
    response = owner_client.post(f"/jobs/{kept.id}/delete", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"head-{kept.id}")
    assert response["HX-Redirect"] == "/jobs/"
    assert not Pipeline.objects.exists()
