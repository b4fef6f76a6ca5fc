"""Per-user rate limits, counted in the cache: one small mechanism for every limit.

A limit is a name and a rate, "count/seconds" in settings.RATE_LIMITS (e.g.
"pipelines": "30/60"). Each user gets a counter per fixed window of that many
seconds; the request that would go past the count is refused with 429 and a
Retry-After saying when the window ends.

Written here rather than taken from django-ratelimit: that package refuses with
a PermissionDenied (a 403 unless more glue is added), sets no Retry-After, and
offers no call that code outside a view can use. Here `check()` is a plain
function (views, forms and the generation engine's per-user quota call the same
one) and `rate_limited` is the view decorator over it.

The counter is one atomic cache increment per request. When the cache is down
the limit fails open: an outage must slow nothing and refuse nobody (django-redis
swallows the error and returns None, which counts as "allowed").
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from .errors import error_response, for_scripts, refused_page

log = logging.getLogger(__name__)


class RateLimited(Exception):
    """Raised by check() when a user is over a limit; says when to try again."""

    def __init__(self, name, retry_after):
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"Too many requests ({name}); try again in {retry_after} s.")

    @property
    def message(self):
        wait = f"{self.retry_after} second{'s' if self.retry_after != 1 else ''}"
        return f"{LABELS.get(self.name, 'Too many requests')}: please wait {wait} and try again."


class QuotaExceeded(RateLimited):
    """A limit on what a user has at once rather than per window (steps in flight):
    refused the same way, with its own message."""

    def __init__(self, name, retry_after, message, code="too_many"):
        super().__init__(name, retry_after)
        self._message = message
        self.code = code

    @property
    def message(self):
        return self._message


# How each limit is described to the person who hits it.
LABELS = {
    "pipelines": "You are creating pipelines too quickly",
    "uploads": "You are uploading too quickly",
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, name, text):
        try:
            count, seconds = (int(part) for part in str(text).split("/"))
        except ValueError:
            raise ImproperlyConfigured(f"Rate limit {name}={text!r} is not 'count/seconds', e.g. '30/60'") from None
        if count < 1 or seconds < 1:
            raise ImproperlyConfigured(f"Rate limit {name}={text!r} needs a count and a period of at least 1")
        return cls(count, seconds)


def rate_for(name):
    try:
        return Rate.parse(name, settings.RATE_LIMITS[name])
    except KeyError:
        raise ImproperlyConfigured(f"No rate limit named {name!r} in settings.RATE_LIMITS") from None


def check(name, key, cost=1, now=None):
    """Count `cost` against limit `name` for `key` (a user id); raise RateLimited when over it."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    rate = rate_for(name)
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    counter = f"rl:{name}:{key}:{window}"
    try:
        # add() starts the window's counter (a no-op when it exists), incr() is atomic
        # in Redis; the counter outlives its window by a little and then expires.
        cache.add(counter, 0, timeout=rate.seconds + 1)
        used = cache.incr(counter, cost)
    except ValueError:
        # The counter expired between add() and incr(): this request opens a new one.
        cache.set(counter, cost, timeout=rate.seconds + 1)
        used = cost
    except Exception:  # noqa: BLE001 - any cache failure: fail open, loudly in the logs
        log.warning("rate limit %s not checked: the cache is unavailable", name, exc_info=True)
        return
    if used is not None and used > rate.count:
        retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
        raise RateLimited(name, retry_after)


def too_many_response(request, exc):
    """The 429 for `exc`: the API's JSON error to a script (errors.for_scripts()), else a message the page shows."""
    if for_scripts(request):
        response = error_response(429, getattr(exc, "code", "rate_limited"), exc.message)
    else:
        response = refused_page(request, 429, "Too many requests", exc.message)
    response["Retry-After"] = str(exc.retry_after)
    return response


def rate_limited(name, methods=("POST",)):
    """Limit a view's `methods` per signed-in user by the rate `name` (anonymous requests pass:
    the view's own login check answers them)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods and request.user.is_authenticated:
                try:
                    check(name, request.user.pk)
                except RateLimited as exc:
                    return too_many_response(request, exc)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
