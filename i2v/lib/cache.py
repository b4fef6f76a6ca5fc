"""Per-owner, versioned list caching.

Every cached list is stored with the owner's version for its scope ("jobs",
"library") at the time it was built, and read together with the current one in
a single round trip. A write bumps the version after commit, so the owner's next
request misses and rebuilds: nobody sees a stale list after their own change,
and nothing has to find and delete old entries (they are overwritten or expire).

Keys also carry the deploy's version (settings.RELEASE): a fragment rendered
by the previous deploy's templates is never served next to the new code.

The cache is told to swallow connection errors (IGNORE_EXCEPTIONS), so with
Redis down every lookup is a miss and pages are built from the database.
"""

import hashlib
import json
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction


def _version_key(scope, owner_id):
    return f"ver:{scope}:{owner_id}"


def owner_version(scope, owner_id):
    key = _version_key(scope, owner_id)
    version = cache.get(key)
    if version is None:
        # A clock-based start value never repeats one that was evicted, so an
        # old entry can't come back to life under a recycled version number.
        version = time.time_ns()
        if not cache.add(key, version, timeout=None):
            version = cache.get(key) or version
    return version


def bump_owner_version(scope, owner_id):
    cache.set(_version_key(scope, owner_id), time.time_ns(), timeout=None)


def bump_on_commit(scope, owner_id):
    # After commit, not before: a reader between our write and the commit would
    # otherwise cache the old rows under the new version.
    transaction.on_commit(lambda: bump_owner_version(scope, owner_id))


def _entry_key(scope, owner_id, parts):
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"list:{settings.RELEASE}:{scope}:{owner_id}:{digest}"


def _found(found, version_key, key):
    """(the version, the entry stored under `key` for that version or None) in `found`, a
    get_many of both keys: an entry of an older version is a miss, and is overwritten."""
    version, entry = found.get(version_key), found.get(key)
    if version is not None and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return version, entry[1]
    return version, None


def _read(scope, owner_id, key):
    """(the owner's current version, the value stored under `key` for that version or None).

    One round trip: an entry is stored with the version it was built under, and both are read
    together, instead of reading the version first to make the key (a cached hit's cost is
    mostly its round trips).
    """
    version, value = _found(cache.get_many([_version_key(scope, owner_id), key]), _version_key(scope, owner_id), key)
    if version is None:
        return owner_version(scope, owner_id), None
    return version, value


def reads_ahead(entry_for):
    """Marks a view whose first read is the list entry `entry_for(request, owner_id)` (a
    ListEntry): the auth middlewares read it in the round trip that reads the request's user
    (i2v/lib/auth.py), with a session's data, so that a cached list hit costs one round trip
    instead of two or three. The view makes its entry as it would anyway, and for_request()
    hands it the one read. Set innermost: the decorators above copy the mark (functools.wraps)."""

    def mark(view):
        view.reads_ahead = entry_for
        return view

    return mark


class ListEntry:
    """One list in the owner's versioned cache, under `parts`: read at most once, with the
    owner's version in the same round trip, and on a miss built and written once.

    A view looks it up (cached()) before it builds a form, then, on a miss, builds the list
    through() it: two round trips in all, the version read with the first, which may itself
    be made with the request's user (reads_ahead())."""

    def __init__(self, scope, owner_id, parts):
        self.scope, self.owner_id = scope, owner_id
        self.key = _entry_key(scope, owner_id, parts) if settings.LIST_CACHE else None
        self.version = self.value = None  # read by cached(), or taken from a read ahead

    @classmethod
    def for_request(cls, request, form_class, scope, view, owner_id=None):
        """The entry of the list `request` asks `view` for, keyed by the request's own query
        parameters, so it is found before any form is built. Parameters that aren't the form's
        fields are left out: the form ignores them, so they can't change the list, and junk
        can't make entries of its own. The owner is the request's user unless `owner_id` says.

        Made once per request, view and owner: the view is handed the entry the auth middleware
        read ahead (i2v/lib/auth.py) when that was for its verified user, and its own otherwise."""
        owner_id = request.user.id if owner_id is None else owner_id
        made = request.__dict__.setdefault("_list_entries", {})
        if (entry := made.get((scope, view, owner_id))) is None:
            fields = form_class.base_fields
            parts = {"view": view, "raw": sorted(item for item in request.GET.lists() if item[0] in fields)}
            entry = made[scope, view, owner_id] = cls(scope, owner_id, parts)
        return entry

    def keys(self):
        """The cache keys cached() reads (none with the list cache off)."""
        return [] if self.key is None else [_version_key(self.scope, self.owner_id), self.key]

    def take(self, found):
        """Take this entry from `found`, a get_many of keys() made with another read."""
        version, value = _found(found, *self.keys())
        if version is not None:  # else cached() reads, and starts the owner's version
            self.version, self.value = version, value

    def cached(self):
        """The stored list, or None: one cache round trip at most, nothing else."""
        if self.key is not None and self.version is None:
            self.version, self.value = _read(self.scope, self.owner_id, self.key)
        return self.value

    def through(self, build):
        """The stored list, or build() stored for the version read (a version bumped since
        makes it a miss for the next reader, never a stale hit)."""
        if self.key is None:
            return build()
        if (value := self.cached()) is not None:
            return value
        value = build()
        cache.set(self.key, (self.version, value), timeout=settings.CACHE_TIMEOUT_SECONDS)
        return value
