"""i2v/db/postgresql: Django's PostgreSQL backend, its kept connections checked without a round trip."""

import time

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend")


@pytest.fixture
def own(db):
    """A connection of its own (the test's is inside its transaction), closed after."""
    made = connections.create_connection("default")
    made.ensure_connection()
    yield made
    made.close()


def test_it_finds_an_idle_connection_usable_without_a_query(own, monkeypatch):
    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", lambda self: pytest.fail("SELECT 1 sent"))
    assert own.is_usable()
    with own.cursor() as cursor:  # and still is, after a query
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert own.is_usable()


def test_it_finds_a_connection_the_server_ended_unusable(own):
    with own.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while own.is_usable() and time.monotonic() < deadline:  # the goodbye crosses the socket
        time.sleep(0.01)
    assert not own.is_usable()
    own.close_if_unusable_or_obsolete()  # as a request's start does: a new connection then
    own.health_check_done = False
    with own.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_it_finds_a_closed_connection_unusable(own):
    own.connection.close()
    assert not own.is_usable()


def test_it_connects_without_jit_unless_the_url_asks_for_it(own):
    """A list's EXPLAIN of a common word's matches passes jit_above_cost: the first of each
    connection loaded the LLVM provider (17-40 ms). The URL's own options still have the last word."""
    with own.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
    asked = connections.create_connection("default")
    asked.settings_dict = {**asked.settings_dict, "OPTIONS": {**asked.settings_dict["OPTIONS"], "options": "-c jit=on -c work_mem=8MB"}}
    try:
        with asked.cursor() as cursor:
            cursor.execute("SELECT current_setting('jit'), current_setting('work_mem')")
            assert cursor.fetchone() == ("on", "8MB")
    finally:
        asked.close()


def test_it_connects_without_parallel_workers(own):
    """A list's statement reads a page's worth of entries in a millisecond or two, about what a worker costs to
    start: two weeks' days merged for a word by cost (1.05 ms) were read whole by two workers instead, 11-13 ms."""
    with own.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone() == ("0",)
