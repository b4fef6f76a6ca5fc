"""What a list request costs through the list cache (not a test): prints a Markdown table.

For each list (the Jobs and Library HTMX fragments and their APIs), in this process,
calling the WSGI application directly with a logged-in session (no server, no client
socket): the CPU a request costs (time.process_time, median of --requests after 20
warm-ups) and the Redis commands it sends (INFO commandstats before and after), for

- a hit: the entry is there for the owner's current version;
- a miss: the owner's version is bumped before each request (as any write of theirs
  does), so the list is built and stored again.

The list cache must be on (Redis). Nothing is written but sessions and cache entries.

Usage: DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/N \\
       python bench/list_cache.py [--owner bench] [--requests 300]
"""

import argparse
import os
import statistics
import sys
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
os.environ["LIST_CACHE"] = "1"

LISTS = [
    ("Jobs page (HTMX)", "jobs", "/jobs/", True),
    ("GET /api/pipelines", "jobs", "/api/pipelines", False),
    ("Library page (HTMX)", "library", "/library/", True),
    ("GET /api/library/images", "library", "/api/library/images", False),
]


def session_cookie(user):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def requester(app, path, cookie, htmx):
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1", "HTTP_COOKIE": cookie,
        **({"HTTP_HX_REQUEST": "true"} if htmx else {}),
    }  # fmt: skip

    def request():
        statuses = []
        body = app({**environ, "wsgi.input": BytesIO(b"")}, lambda status, headers: statuses.append(status))
        size = len(b"".join(body))
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{path}: {statuses[0]}")
        return size

    return request


def measure(request, before, requests, commands):
    """(median CPU ms, Redis commands per request) of `requests` calls of before() then request(),
    the CPU of request() alone; `commands` is each before()'s own."""
    for _ in range(20):
        before()
        request()
    start = commands_sent()
    times = []
    for _ in range(requests):
        before()
        t = time.process_time()
        request()
        times.append(time.process_time() - t)
    sent = commands_sent() - start - 1  # the INFO that read it
    return statistics.median(times) * 1000, sent / requests - commands


def commands_sent():
    from django_redis import get_redis_connection

    return sum(stat["calls"] for stat in get_redis_connection("default").info("commandstats").values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler

    from i2v.lib.cache import bump_owner_version

    if not settings.LIST_CACHE or "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        raise SystemExit("the list cache needs Redis: set REDIS_URL")
    user = get_user_model().objects.get(username=args.owner)
    app, cookie = WSGIHandler(), session_cookie(user)
    print(f"{args.requests} requests per row, in one process; load average {os.getloadavg()[0]:.1f} at the start\n")
    print("| list | hit: CPU ms | hit: Redis commands | miss: CPU ms | miss: Redis commands | bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, scope, path, htmx in LISTS:
        request = requester(app, path, cookie, htmx)
        size = request()
        hit = measure(request, lambda: None, args.requests, 0)
        miss = measure(request, lambda scope=scope: bump_owner_version(scope, user.pk), args.requests, 1)
        print(f"| {label} | {hit[0]:.2f} | {hit[1]:.1f} | {miss[0]:.2f} | {miss[1]:.1f} | {size:,} |")


if __name__ == "__main__":
    main()
