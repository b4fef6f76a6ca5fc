"""Django's cached_db sessions, whose cached data can be read in another read's round trip.

A browser's cached list hit reads three things from the cache: its session, the session's user
and the list. Django's store reads the session alone, a round trip of its own; this one says
which key it would read (key_ahead()) and takes what another read found there (take()), so
that i2v/lib/auth.py reads all three at once. Everything else is Django's: the same cache keys
and table, so sessions made before or by the stock engine load here unchanged.
"""

from django.contrib.sessions.backends import cached_db


class SessionStore(cached_db.SessionStore):
    def key_ahead(self):
        """The cache key load() would read first, or None when there is nothing to read ahead:
        the session is loaded already, or has no key yet (reading would make one)."""
        if hasattr(self, "_session_cache") or not self.session_key:
            return None
        return self.cache_key

    def take(self, data):
        """Load from `data`, the cache's value under key_ahead() as another read found it: what
        load() would find there. None (not cached) leaves the session to load() as usual."""
        if data is not None and not hasattr(self, "_session_cache"):
            self._session_cache = data
