"""Timestamps read from PostgreSQL by psycopg's C loader, not a Python one.

Django (5.x, psycopg 3) registers on every connection a loader of `timestamptz` that
subclasses psycopg's pure-Python TimestamptzLoader (psycopg.types.datetime), then sets
the connection's time zone on each value: 3.3 µs a value, where the C loader that
psycopg itself registers (psycopg_binary) takes a fraction of that. A list row holds
one to three timestamps: 61 Library rows read 0.3 ms of CPU for their created_at
alone, a tenth of an uncached page (docs/benchmarks.md, "Eleventh pass").

Where the two give the same values, the C loader is registered in Django's place:
the time zone psycopg gives the session's values (for "UTC", datetime.timezone.utc)
is the very object Django would set on them. The subclass only carries that time
zone as `timezone`, the attribute Django compares before it registers its own again
on a cursor. Anywhere else (another session time zone, USE_TZ off, psycopg without
its C extension, psycopg2) Django's loader stays. No package does this.
"""

from django.db.backends.signals import connection_created

try:
    from psycopg import _cmodule
    from psycopg._tz import get_tzinfo
    from psycopg.adapt import Loader
except ImportError:  # psycopg2, or no psycopg at all
    _cmodule = None

_loaders = {}  # tzinfo: its loader class, made once


class _CLoader(Loader if _cmodule else object):
    """psycopg's C TimestamptzLoader, which can't be subclassed, behind a class that names its time
    zone: each instance's `load` is the C loader's own, which psycopg's C rows call directly."""

    timezone = None

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self.load = _cmodule._psycopg.TimestamptzLoader(oid, context).load

    def load(self, data):  # the instance's own (__init__) comes first
        raise NotImplementedError


def _c_loader(tz):
    """_CLoader for time zone `tz`."""
    if tz not in _loaders:
        _loaders[tz] = type("TimestamptzCLoader", (_CLoader,), {"timezone": tz})
    return _loaders[tz]


def use_c_loader(sender, connection, **kwargs):
    """connection_created receiver: the C loader of timestamptz on `connection`, where it
    gives exactly what Django's would."""
    if connection.vendor != "postgresql" or _cmodule is None or _cmodule._psycopg is None:
        return
    raw = connection.connection
    adapters = getattr(raw, "adapters", None)  # psycopg 3 only
    if adapters is None or connection.timezone is None or get_tzinfo(raw.pgconn) is not connection.timezone:
        return
    adapters.register_loader("timestamptz", _c_loader(connection.timezone))


def connect():
    connection_created.connect(use_c_loader, dispatch_uid="i2v_timestamptz_c_loader")
