"""Property: no list, page or API, answers 5xx, whatever its query string says.

Every list of the app (the Jobs page, the Library page, GET /api/pipelines, GET
/api/library/images, a pipeline's outputs as HTML and as JSON) gets each of its
parameters drawn from valid values, junk, extremes (the ends of the calendar,
numbers past 64 bits, negative ones) and cursors: real ones, real ones altered,
and real ones of another list or sort order.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_asset, make_pipeline

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

junk = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "-1", "1e9", "NaN", "null", "[]", "{}", "%00", "\x00", "é", "../..", "' OR 1=1 --"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
dates = st.one_of(
    st.dates().map(str),
    st.sampled_from(["9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01", "20260101", "-2026-01-01"]),
    junk,
)
sizes = st.one_of(st.integers(min_value=-5, max_value=5000).map(str), junk)


def _choice(*valid):
    return st.one_of(st.sampled_from(valid), junk)


JOBS = {
    "status": _choice("", "pending", "running", "completed", "failed", "cancelled", "paused"),
    "tag": _choice("", "fuzz", "UPPER", "a" * 41),
    "favorites": _choice("", "1", "true", "on", "0"),
    "hidden": _choice("", "include", "only"),
    "q": junk,
    "date_from": dates,
    "date_to": dates,
    "model": _choice("", "local-i2i", "flux-kontext"),
    "sort": _choice("newest", "oldest", "name", "cost"),
    "page_size": sizes,
}
LIBRARY = {
    "kind": _choice("", "image", "video"),
    "source": _choice("", "upload", "generated"),
    "status": _choice("", "pending", "processing", "complete", "failed"),
    "q": junk,
    "date_from": dates,
    "date_to": dates,
    "page_size": sizes,
}
PAGE = {"page_size": sizes}


def _params(fields):
    return st.fixed_dictionaries({}, optional=fields)


def _altered(cursor):
    """A real cursor, changed the ways a person or an attacker would."""
    return st.sampled_from(
        [cursor, cursor[:-1], cursor[::-1], cursor + "x", cursor.replace(":", "."), cursor[: len(cursor) // 2], cursor.upper()]
    )


@pytest.fixture
def data(owner, other):
    for n in range(7):
        make_pipeline(owner, outputs=3 if n else 60, tags=["fuzz"] if n % 2 else [])
        make_asset(owner)
    make_pipeline(other)
    return {"pipeline": owner.pipelines.order_by("id").first()}


def _cursors(client, url):
    """next_cursor of the first page of a JSON list: a real cursor (the pages' links carry the same)."""
    return [client.get(url).json()["pagination"]["next_cursor"]]


def _check(client, url, params, **headers):
    response = client.get(url, params, **headers)
    assert response.status_code < 500, f"{url} {params!r} -> {response.status_code}"
    return response


def _cursor_strategy(cursors):
    real = [c for c in cursors if c]
    if not real:
        return junk
    return st.one_of(junk, st.sampled_from(real).flatmap(_altered))


@pytest.mark.django_db
def test_it_never_fails_on_the_jobs_list_page_and_api(owner_client, data):
    cursors = _cursors(owner_client, "/api/pipelines?page_size=2")
    cursors += _cursors(owner_client, "/api/pipelines?page_size=2&sort=name")
    cursors += _cursors(owner_client, "/api/library/images?page_size=2")  # another list's cursor

    @FUZZ
    @given(params=_params(JOBS), cursor=st.one_of(st.none(), _cursor_strategy(cursors)))
    def fuzz(params, cursor):
        if cursor is not None:
            params = {**params, "cursor": cursor}
        assert _check(owner_client, "/api/pipelines", params).status_code in (200, 400)
        assert _check(owner_client, "/jobs/", params).status_code in (200, 400)
        assert _check(owner_client, "/jobs/", params, HTTP_HX_REQUEST="true").status_code in (200, 400)

    fuzz()


@pytest.mark.django_db
def test_it_never_fails_on_the_library_page_and_api(owner_client, data):
    cursors = _cursors(owner_client, "/api/library/images?page_size=2")
    cursors += _cursors(owner_client, "/api/pipelines?page_size=2")

    @FUZZ
    @given(params=_params(LIBRARY), cursor=st.one_of(st.none(), _cursor_strategy(cursors)))
    def fuzz(params, cursor):
        if cursor is not None:
            params = {**params, "cursor": cursor}
        assert _check(owner_client, "/api/library/images", params).status_code in (200, 400)
        assert _check(owner_client, "/library/", params).status_code in (200, 400)
        assert _check(owner_client, "/library/", params, HTTP_HX_REQUEST="true").status_code in (200, 400)

    fuzz()


@pytest.mark.django_db
def test_it_never_fails_on_a_pipelines_outputs(owner_client, data):
    pipeline = data["pipeline"]
    cursors = _cursors(owner_client, f"/api/pipelines/{pipeline.id}/outputs?page_size=5")
    cursors += _cursors(owner_client, "/api/pipelines?page_size=2")
    ids = st.one_of(st.just(pipeline.id), st.integers(min_value=0, max_value=2**64))

    @FUZZ
    @given(pipeline_id=ids, params=_params(PAGE), cursor=st.one_of(st.none(), _cursor_strategy(cursors)))
    def fuzz(pipeline_id, params, cursor):
        if cursor is not None:
            params = {**params, "cursor": cursor}
        for url in (f"/api/pipelines/{pipeline_id}/outputs", f"/jobs/{pipeline_id}/outputs"):
            assert _check(owner_client, url, params).status_code in (200, 400, 404)
            assert _check(owner_client, url, params, HTTP_HX_REQUEST="true").status_code in (200, 400, 404)

    fuzz()
