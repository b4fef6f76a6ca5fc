"""/jobs/watch: the Jobs page's one live request for its rows at work (i2v/lib/watch.py)."""

import datetime

import pytest

from conftest import make_pipeline
from i2v.lib.watch import WATCH_MAX
from jobs.models import Pipeline


def watch(client, *pipelines, versions=None):
    value = ",".join(f"{p.id}:{v}" for p, v in zip(pipelines, versions or [p.version for p in pipelines], strict=True))
    return client.get("/jobs/watch", {"watch": value}, HTTP_HX_REQUEST="true")


def test_it_answers_204_when_no_watched_row_changed(owner_client, owner):
    running = [make_pipeline(owner, status="running") for _ in range(3)]
    response = watch(owner_client, *running)
    assert response.status_code == 204 and response.content == b""


def test_it_returns_only_the_changed_rows_as_out_of_band_rows(owner_client, owner):
    same, moved, done = (make_pipeline(owner, status="running") for _ in range(3))
    versions = [same.version, moved.version, done.version]
    Pipeline.objects.filter(pk=moved.pk).update(progress_done=1, planned_steps=4, updated_at=moved.updated_at + datetime.timedelta(seconds=1))
    done.status = "completed"
    done.save()
    moved.refresh_from_db()
    html = watch(owner_client, same, moved, done, versions=versions).content.decode()
    assert html.count("hx-swap-oob") == 2 and f'id=row-{same.id} ' not in html
    # Still at work: watched on with its new version; done: no longer watched.
    assert f'id=row-{moved.id} data-watch={moved.id}:{moved.version} hx-swap-oob=outerHTML>' in html
    assert "1/4 done" in html
    assert f'id=row-{done.id} hx-swap-oob=outerHTML>' in html and "<b>completed</b>" in html


def test_it_removes_rows_that_are_gone_and_shows_nothing_of_other_users(owner_client, owner, other):
    mine = make_pipeline(owner, status="running")
    theirs = make_pipeline(other, status="running", name="Their secret")
    deleted = make_pipeline(owner, status="running")
    deleted_id, deleted_version = deleted.id, deleted.version
    deleted.delete()
    html = owner_client.get("/jobs/watch", {"watch": f"{mine.id}:0,{theirs.id}:0,{deleted_id}:{deleted_version}"}).content.decode()
    assert f'id=row-{mine.id} ' in html
    # Someone else's id gets the same answer as a deleted one: a removal, nothing of theirs.
    assert f'<tbody id="job-{theirs.id}" hx-swap-oob="delete">' in html and "Their secret" not in html
    assert f'<tbody id="job-{deleted_id}" hx-swap-oob="delete">' in html


@pytest.mark.parametrize(
    "value",
    ["", "12", "12:", ":v", "x:1", "12:v,", "12:v w", "12:<b>", "1" * 19 + ":v", ",".join(f"{i}:v" for i in range(WATCH_MAX + 1))],
)
def test_it_refuses_a_bad_list_with_400_and_a_message(owner_client, value):
    response = owner_client.get("/jobs/watch", {"watch": value})
    assert response.status_code == 400
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain") and "<b>" not in text
    assert "pair" in text or "at once" in text or "Say which" in text


def test_it_needs_a_login(client):
    assert client.get("/jobs/watch", {"watch": "1:1"}).status_code == 302


@pytest.mark.parametrize("count", [1, WATCH_MAX])
def test_it_costs_the_same_queries_however_many_rows_changed(owner_client, owner, count, django_assert_num_queries):
    pipelines = [make_pipeline(owner, status="running", outputs=0, tags=["t"]) for _ in range(count)]
    with django_assert_num_queries(2):  # the versions, the changed rows (counts, cover, tags as subqueries)
        response = watch(owner_client, *pipelines, versions=["0"] * count)
    assert response.content.decode().count("hx-swap-oob") == count
    with django_assert_num_queries(1):  # nothing changed: the versions only (the user is cached)
        assert watch(owner_client, *pipelines).status_code == 204
