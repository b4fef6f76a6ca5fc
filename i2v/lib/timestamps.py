"""Timestamps read from PostgreSQL by psycopg's C loader, not a Python one.

Django (5.x, psycopg 3) registers on every connection a loader of `timestamptz` that
subclasses psycopg's pure-Python TimestamptzLoader (psycopg.types.datetime), then sets
the connection's time zone on each value: 3.3 µs a value, where the C loader that
psycopg registers by default (with psycopg_binary) takes 0.6. A list row holds one to
three timestamps: 61 Library rows spent 0.3 ms of CPU on their created_at alone, more
than a twentieth of an uncached page (docs/benchmarks.md, "Eleventh pass").

Where the two give the same values, psycopg's default loader is registered in Django's
place: the time zone psycopg gives the session's values (for "UTC", datetime.timezone.utc)
is the very object Django would set on them. The C loader can't be subclassed, so a
class that carries the time zone as `timezone` (the attribute Django compares before it
registers its own again on a cursor) hands each instance the C loader's own `load`,
which psycopg's C rows call directly. Anywhere else (another session time zone, USE_TZ
off, psycopg2) Django's loader stays. No package does this.
"""

from django.db.backends.signals import connection_created

try:
    import psycopg
    from psycopg.adapt import Loader
    from psycopg.pq import Format
except ImportError:  # psycopg2, or no psycopg at all
    psycopg = None
    Loader = object

_loaders = {}  # tzinfo: its loader class, made once


class _DefaultLoader(Loader):
    """psycopg's default TimestamptzLoader behind a class that names a time zone."""

    timezone = None

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self.load = psycopg.adapters.get_loader(oid, Format.TEXT)(oid, context).load

    def load(self, data):  # each instance's own (__init__) comes first
        raise NotImplementedError


def _loader(tz):
    if tz not in _loaders:
        _loaders[tz] = type("TimestamptzDefaultLoader", (_DefaultLoader,), {"timezone": tz})
    return _loaders[tz]


def use_default_loader(sender, connection, **kwargs):
    """connection_created receiver: psycopg's own loader of timestamptz on `connection`, where
    it gives exactly what Django's would."""
    if connection.vendor != "postgresql" or psycopg is None:
        return
    raw = connection.connection
    if not isinstance(raw, psycopg.Connection) or connection.timezone is None or raw.info.timezone is not connection.timezone:
        return
    raw.adapters.register_loader("timestamptz", _loader(connection.timezone))


def connect():
    connection_created.connect(use_default_loader, dispatch_uid="i2v_timestamptz_default_loader")
