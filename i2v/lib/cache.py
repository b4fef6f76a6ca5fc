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


def _read(scope, owner_id, key):
    """(the owner's current version, the value stored under `key` for that version or None).

    One round trip: an entry is stored with the version it was built under, and both are read
    together, instead of reading the version first to make the key (a cached hit's cost is
    mostly its round trips). An entry of an older version is a miss, and is overwritten.
    """
    found = cache.get_many([_version_key(scope, owner_id), key])
    version = found.get(_version_key(scope, owner_id))
    if version is None:
        return owner_version(scope, owner_id), None
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return version, entry[1]
    return version, None


def request_parts(request, form_class, view):
    """Key parts from the request's own query parameters, to find a list in the cache before
    any form is built; None when a parameter isn't one of the form's (so junk never makes entries)."""
    if not settings.LIST_CACHE or any(name not in form_class.base_fields for name in request.GET):
        return None
    return {"view": view, "raw": sorted(request.GET.lists())}


def cached_only(scope, owner_id, parts):
    """The list cached under `parts` (from request_parts), or None: one cache round trip, nothing else."""
    if parts is None:
        return None
    return _read(scope, owner_id, _entry_key(scope, owner_id, parts))[1]


def cached_list(scope, owner_id, parts, build, alias=None):
    """Return build() through the cache, keyed by owner and parts and checked against the
    owner's version; a build is also stored under `alias` (request_parts), where the next
    identical request finds it."""
    if not settings.LIST_CACHE:
        return build()
    key = _entry_key(scope, owner_id, parts)
    version, value = _read(scope, owner_id, key)
    if value is None:
        value = build()
        cache.set(key, (version, value), timeout=settings.CACHE_TIMEOUT_SECONDS)
    if alias is not None:
        cache.set(_entry_key(scope, owner_id, alias), (version, value), timeout=settings.CACHE_TIMEOUT_SECONDS)
    return value
