"""/jobs/newer: "Show" on the Jobs page's bar of new pipelines puts them above its top row (jobs/newer.py)."""

import datetime
import json
import re
from html import unescape

import pytest
from django.http import QueryDict
from django.utils import timezone

from conftest import make_pipeline
from i2v.lib.pagination import EPOCH

HX = {"HTTP_HX_REQUEST": "true"}
MICROSECOND = datetime.timedelta(microseconds=1)


def _bar(client, query=""):
    html = client.get(f"/jobs/?{query}", **HX).content.decode()
    return QueryDict(unescape(re.search(r'<i data-params="([^"]*)"></i>', html)[1]))


def _rows(response):
    return [int(i) for i in re.findall(r"<tbody id=job-(\d+)>", response.content.decode())]


def _bar_in(response):
    """The bar the answer sends out of band: (its parameters, its button's text or None)."""
    html = response.content.decode()
    oob = re.search(r'<template><div id=newer hx-swap-oob=innerHTML><i data-params="([^"]*)"></i>(?:<button.*>([^<]*)</button>)?</div></template>', html)
    return QueryDict(unescape(oob[1])), oob[2]


def _at(minutes, user, **fields):
    return make_pipeline(user, outputs=0, steps=0, created_at=timezone.now() + datetime.timedelta(minutes=minutes), **fields)


def test_it_puts_the_new_pipelines_above_the_top_row_a_page_at_a_time_the_oldest_first(owner_client, owner, django_assert_num_queries):
    _at(-60, owner)
    bar = _bar(owner_client, "page_size=3")
    new = [_at(minute, owner) for minute in range(1, 6)]  # five, made in this order
    # The rows (the newest visible ones: the keyset query alone, as a cursor's page of them), the count of what remains.
    with django_assert_num_queries(2):
        response = owner_client.get("/jobs/newer", {**bar.dict(), "page_size": 3}, **HX)
    # The three made first, newest first as the list shows them, right above the old top row: no gap.
    assert _rows(response) == [new[2].id, new[1].id, new[0].id]
    assert json.loads(response["HX-Trigger"]) == {"totalChanged": {"by": 3, "noun": "pipeline"}}
    params, button = _bar_in(response)
    assert button == "2 new pipelines — Show" and params["seen"] == "2" and params["top"] == f"{(new[2].created_at - EPOCH) // MICROSECOND}_{new[2].id}"
    # The bar's next Show brings the last two, and then it says nothing.
    response = owner_client.get("/jobs/newer", {"top": params["top"]}, **HX)
    assert _rows(response) == [new[4].id, new[3].id]
    params, button = _bar_in(response)
    assert button is None and "seen" not in params
    assert owner_client.get("/jobs/watch", params.dict(), **HX).status_code == 204


def test_it_shows_only_the_users_own_pipelines_that_match_the_filters(owner_client, owner, other):
    _at(-60, owner, is_favorite=True)
    bar = _bar(owner_client, "favorites=1")
    assert bar["favorites"] == "1"
    theirs = _at(1, other, is_favorite=True, name="Their secret")
    _at(2, owner)  # not a favourite
    starred = _at(3, owner, is_favorite=True, name="<b>mine</b>")
    response = owner_client.get("/jobs/newer", bar.dict(), **HX)
    html = response.content.decode()
    assert _rows(response) == [starred.id] and "Their secret" not in html and f"job-{theirs.id}" not in html
    assert "&lt;b&gt;mine&lt;/b&gt;" in html and "<b>mine" not in html


def test_it_answers_only_the_bar_when_what_was_counted_is_gone(owner_client, owner):
    _at(-60, owner)
    bar = _bar(owner_client)
    _at(1, owner).delete()
    response = owner_client.get("/jobs/newer", bar.dict(), **HX)
    assert response.status_code == 200 and _rows(response) == []
    assert _bar_in(response) == (bar, None)


@pytest.mark.parametrize("params", [{}, {"top": ""}, {"top": "altered"}, {"top": "1_0"}, {"top": "1_1", "sort": "cost"}])
def test_it_refuses_a_missing_or_tampered_top_row_with_400_and_a_message(owner_client, owner, params):
    response = owner_client.get("/jobs/newer", params, **HX)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert re.search("top one|Not a row's key|newest-first", response.content.decode())


def test_it_needs_a_login(client):
    assert client.get("/jobs/newer").status_code == 302
