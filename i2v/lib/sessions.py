"""Django's cached_db sessions, whose cached data can be read in another read's round trip.

A browser's cached list hit reads three things from the cache: its session, the session's user
and the list. Django's store reads the session alone, a round trip of its own; this one says
which key it would read (key_ahead()) and takes what another read found there (take()), so
that i2v/lib/auth.py reads all three at once. Everything else is Django's: the same cache keys
and table, so sessions made before or by the stock engine load here unchanged.
"""

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import DEFAULT_CACHE_ALIAS


class SessionStore(cached_db.SessionStore):
    def key_ahead(self):
        """The cache key load() would read first, or None when there is nothing to read ahead:
        the session is loaded already, has no key yet (reading would make one), or is kept in
        another cache than the default one, which the other reads use."""
        if hasattr(self, "_session_cache") or not self.session_key or settings.SESSION_CACHE_ALIAS != DEFAULT_CACHE_ALIAS:
            return None
        return self.cache_key

    def take(self, data):
        """Load from `data`, the cache's value under key_ahead() as another read found it: what
        load() would find there. None (not cached) leaves the session to load() as usual."""
        if data is not None and not hasattr(self, "_session_cache"):
            self._session_cache = data
