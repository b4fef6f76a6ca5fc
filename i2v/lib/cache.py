"""Per-owner, versioned list caching.

Every cached list lives under a key that includes the owner's current version
for its scope ("jobs", "library"). A write bumps the version after commit, so
the owner's next request misses and rebuilds: nobody sees a stale list after
their own change, and nothing has to find and delete old keys (they expire).

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


def cached_list(scope, owner_id, parts, build):
    """Return build() through the cache, keyed by owner, version and parts."""
    if not settings.LIST_CACHE:
        return build()
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    key = f"list:{settings.RELEASE}:{scope}:{owner_id}:{owner_version(scope, owner_id)}:{digest}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=settings.CACHE_TIMEOUT_SECONDS)
    return value
