import datetime

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.postgresql.psycopg_any import register_tzloader

from i2v.lib import timestamps

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the loader is psycopg's, for PostgreSQL"),
    pytest.mark.django_db,
]

LITERALS = [
    "2026-12-01 13:49:27.567995+00", "2026-12-01 13:49:27+00", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
    "2024-02-29 12:00:00.5+00", "2026-03-29 02:30:00+01",  # another offset: converted to UTC
]  # fmt: skip


def _loaded(cursor, literals):
    cursor.execute("SELECT " + ", ".join(["%s::timestamptz"] * len(literals)), literals)
    return cursor.fetchone()


def _fresh():
    """A connection of its own (closed by the caller), made as Django makes one."""
    fresh = connections.create_connection("default")
    fresh.ensure_connection()
    return fresh


def test_it_reads_timestamps_with_the_c_loader_as_djangos_would():
    fresh = _fresh()
    try:
        loader = fresh.connection.adapters.get_loader(1184, 0)
        assert loader.__name__ == "TimestamptzDefaultLoader" and loader.timezone is fresh.timezone
        # Each instance loads with psycopg's own loader (its C one, with psycopg_binary).
        assert type(loader(1184, fresh.connection).load.__self__) is psycopg.adapters.get_loader(1184, 0)
        with fresh.cursor() as cursor:
            ours = _loaded(cursor, LITERALS)
            register_tzloader(fresh.timezone, cursor)  # Django's own, on this cursor
            djangos = _loaded(cursor, LITERALS)
        assert ours == djangos
        assert [v.tzinfo for v in ours] == [datetime.timezone.utc] * len(LITERALS) == [v.tzinfo for v in djangos]
        assert ours[0] == datetime.datetime(2026, 12, 1, 13, 49, 27, 567995, tzinfo=datetime.timezone.utc)
        assert ours[-1] == datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.timezone.utc)
    finally:
        fresh.close()


@pytest.mark.parametrize("literal", ["infinity", "-infinity", "4713-01-01 00:00:00+00 BC", "12000-01-01 00:00:00+00"])
def test_it_refuses_what_djangos_loader_refuses(literal):
    """Timestamps no datetime holds fail the same way (psycopg's DataError)."""
    fresh = _fresh()
    try:
        with fresh.cursor() as cursor:
            with pytest.raises(Exception) as ours:
                _loaded(cursor, [literal])
            register_tzloader(fresh.timezone, cursor)
            with pytest.raises(Exception) as djangos:
                _loaded(cursor, [literal])
        assert type(ours.value) is type(djangos.value)
    finally:
        fresh.close()


def test_it_leaves_djangos_loader_where_the_session_names_another_time_zone():
    """A session whose values psycopg would give another time zone than Django's keeps Django's loader."""
    fresh = _fresh()
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Europe/Paris'")
        register_tzloader(fresh.timezone, fresh.connection)  # as Django leaves a new connection
        timestamps.use_default_loader(None, fresh)
        loader = fresh.connection.adapters.get_loader(1184, 0)
        assert loader.__name__ == "SpecificTzLoader" and loader.timezone is fresh.timezone
    finally:
        fresh.close()
