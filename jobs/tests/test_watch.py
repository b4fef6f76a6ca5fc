"""/jobs/watch: the Jobs page's one live request for its rows at work (i2v/lib/watch.py) and, with them or
alone when the page is seen again, for the pipelines newer than its top row (jobs/newer.py)."""

import datetime
import re
from html import unescape

import pytest
from django.http import QueryDict
from django.utils import timezone

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


# The page's bar of new pipelines (jobs/newer.py): its parameters go with the page's checks.


def _bar(client, query=""):
    """The parameters of the bar a Jobs page at `query` draws, as its checks send them."""
    html = client.get(f"/jobs/?{query}", HTTP_HX_REQUEST="true").content.decode()
    match = re.search(r'<i data-params="([^"]*)"></i>', html)
    return QueryDict(unescape(match[1])) if match else None


def ask(client, bar, *pipelines, **more):
    watched = ",".join(f"{p.id}:{p.version}" for p in pipelines)
    return client.get("/jobs/watch", {**bar.dict(), "watch": watched, **more}, HTTP_HX_REQUEST="true")


def _made_now(user, **fields):
    return make_pipeline(user, outputs=0, steps=0, **fields)


def _earlier(user, hours=1, **fields):
    return make_pipeline(user, outputs=0, steps=0, created_at=timezone.now() - datetime.timedelta(hours=hours), **fields)


def test_it_says_how_many_pipelines_are_newer_than_the_top_row_and_offers_them(owner_client, owner):
    _earlier(owner, status="completed")
    bar = _bar(owner_client)
    assert set(bar) == {"top"}  # nothing at work: a page seen again asks this alone
    assert ask(owner_client, bar).status_code == 204
    _made_now(owner), _made_now(owner)
    html = ask(owner_client, bar).content.decode()
    assert '<div id=newer hx-swap-oob=innerHTML>' in html and "2 new pipelines — Show</button>" in html
    assert 'hx-get="/jobs/newer?top=' in html and 'hx-target="#rows > tbody" hx-swap=beforebegin' in html
    # The page now says 2: the same answer again is no news.
    seen = QueryDict(unescape(re.search(r'<i data-params="([^"]*)"></i>', html)[1]))
    assert seen["seen"] == "2" and seen["top"] == bar["top"]
    assert ask(owner_client, seen).status_code == 204


def test_it_counts_only_the_users_own_pipelines_that_match_the_page_filters(owner_client, owner, other):
    _earlier(owner, status="running", tags=["client"])
    bar = _bar(owner_client, "status=running&tag=client")
    assert set(bar) == {"status", "tag", "top"}
    _made_now(other, status="running", tags=["client"])  # someone else's: never counted
    _made_now(owner, status="completed", tags=["client"])  # not running
    _made_now(owner, status="running")  # not tagged
    _made_now(owner, status="running", tags=["client"], is_hidden=True)  # hidden, not in this list
    _earlier(owner, hours=2, status="running", tags=["client"])  # older than the top row: below it, not new
    assert ask(owner_client, bar).status_code == 204
    _made_now(owner, status="running", tags=["client"])
    assert "1 new pipeline — Show" in ask(owner_client, bar).content.decode()


def test_it_counts_every_match_for_an_empty_list_whose_bar_is_the_list_it_checks(owner_client, owner):
    html = owner_client.get("/jobs/?status=failed").content.decode()
    assert '<div id=newer role=status data-watch-url="/jobs/watch" data-watch-with=newer>' in html
    bar = _bar(owner_client, "status=failed")
    assert bar.dict() == {"status": "failed", "seen": "0"}
    _made_now(owner, status="completed")
    assert ask(owner_client, bar).status_code == 204
    _made_now(owner, status="failed")
    html = ask(owner_client, bar).content.decode()
    # No rows to put it above: Show loads the list again.
    assert 'hx-get="/jobs/?status=failed" hx-target=#results>1 new pipeline — Show</button>' in html


def test_it_stops_counting_at_100(owner_client, owner):
    _earlier(owner)
    bar = _bar(owner_client)
    Pipeline.objects.bulk_create(Pipeline(owner=owner, name=f"n{i}", model="flux-kontext") for i in range(101))
    assert "100+ new pipelines — Show" in ask(owner_client, bar).content.decode()


@pytest.mark.parametrize("query", ["sort=name", "sort=oldest", "sort=cost", "cursor=NEXT"])
def test_it_draws_no_bar_where_new_pipelines_would_not_come_above_the_top_row(owner_client, owner, query):
    for hours in (1, 2, 3):
        _earlier(owner, hours=hours)
    assert _bar(owner_client) is not None  # the first page, newest first
    if query == "cursor=NEXT":  # a page past the first: its top row is not the list's
        html = owner_client.get("/jobs/?page_size=1", HTTP_HX_REQUEST="true").content.decode()
        query = "cursor=" + unescape(re.search(r'<a href="/jobs/\?[^"]*cursor=([^"&]+)', html)[1])
    assert _bar(owner_client, query) is None


def test_it_checks_the_rows_at_work_and_the_new_pipelines_in_one_request_of_two_queries(owner_client, owner, django_assert_num_queries):
    running = [_earlier(owner, status="running") for _ in range(3)]
    bar = _bar(owner_client)
    with django_assert_num_queries(2):  # the count of the new ones (bounded), the versions (the user is cached)
        assert ask(owner_client, bar, *running).status_code == 204
    with django_assert_num_queries(1):  # the page seen again with nothing at work: the count alone
        assert ask(owner_client, bar).status_code == 204
    _made_now(owner), _made_now(owner)
    with django_assert_num_queries(2):  # news costs no more
        html = ask(owner_client, bar, *running).content.decode()
    assert "2 new pipelines" in html and "hx-swap-oob=outerHTML" not in html  # no watched row changed


@pytest.mark.parametrize(
    "params, says",
    [
        ({"top": "altered"}, "Not a row's key"),
        ({"top": "1796576614008632_1_2"}, "Not a row's key"),
        ({"top": "999999999999999999_1"}, "Not a row's key"),  # past the year 9999
        ({"top": "1796576614008632_0"}, "no row has that id"),
        ({"top": "1796576614008632_" + "9" * 19}, "no row has that id"),
        ({"top": "x" * 41}, "at most 40 characters"),
        ({"seen": "-1"}, "greater than or equal to 0"),
        ({"seen": "x"}, "whole number"),
        ({"seen": "101"}, "less than or equal to 100"),
        ({"seen": "0", "sort": "name"}, "newest-first"),
        ({"seen": "0", "status": "<b>nope</b>"}, "valid choice"),
        ({"seen": "0", "date_from": "2026-02-30"}, "valid date"),
    ],
)
def test_it_refuses_parameters_no_page_sends_with_400_and_a_message(owner_client, owner, params, says):
    top = _earlier(owner)
    response = owner_client.get("/jobs/watch", {"watch": f"{top.id}:{top.version}", **params}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert says in response.content.decode()


def test_it_counts_nothing_of_anyone_else_for_a_top_row_made_up(owner_client, owner, other):
    """A key only bounds a count of the user's own pipelines: made up, it shows nothing of anyone else's."""
    make_pipeline(other, outputs=0, steps=0)
    assert ask(owner_client, QueryDict("top=0_1")).status_code == 204
    _made_now(owner)
    assert "1 new pipeline" in ask(owner_client, QueryDict("top=0_1")).content.decode()
