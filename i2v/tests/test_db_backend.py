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
