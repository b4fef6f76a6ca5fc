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


def _list_key(scope, owner_id, parts):
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"list:{settings.RELEASE}:{scope}:{owner_id}:{owner_version(scope, owner_id)}:{digest}"


def request_parts(request, form_class, view):
    """Key parts from the request's own query parameters, to find a list in the cache before
    any form is built; None when a parameter isn't one of the form's (so junk never makes entries)."""
    if not settings.LIST_CACHE or any(name not in form_class.base_fields for name in request.GET):
        return None
    return {"view": view, "raw": sorted(request.GET.lists())}


def cached_only(scope, owner_id, parts):
    """The list cached under `parts` (from request_parts), or None: two cache reads, nothing else."""
    if parts is None:
        return None
    return cache.get(_list_key(scope, owner_id, parts))


def cached_list(scope, owner_id, parts, build, alias=None):
    """Return build() through the cache, keyed by owner, version and parts; a build is
    also stored under `alias` (request_parts), where the next identical request finds it."""
    if not settings.LIST_CACHE:
        return build()
    key = _list_key(scope, owner_id, parts)
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=settings.CACHE_TIMEOUT_SECONDS)
    if alias is not None:
        cache.set(_list_key(scope, owner_id, alias), value, timeout=settings.CACHE_TIMEOUT_SECONDS)
    return value
