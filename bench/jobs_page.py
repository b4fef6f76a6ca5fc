"""Benchmark of the Jobs list at scale (not a test): prints a Markdown table.

Seeds PostgreSQL with --pipelines pipelines for one owner (once; reused after),
serves the app with gunicorn twice on loopback, once with the list cache off and
once with it on (Redis), and measures server time (the Server-Timing header),
queries per request and response sizes for:

  first page uncached / cached, a page 10,000 pages deep, a filtered page,
  the expansion of a pipeline with 50 outputs, JSON and HTML for 20 items.

Usage: DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/jobs_page.py [--pipelines 1000000]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

TIMING = re.compile(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"')


def django_setup():
    import django

    django.setup()


def seed(owner, wanted):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    user = get_user_model().objects.filter(username=owner).first()
    have = user.pipelines.count() if user else 0
    if have < wanted:
        print(f"seeding {wanted - have:,} pipelines for {owner} (have {have:,})", file=sys.stderr)
        call_command("seed_demo", owner=owner, pipelines=wanted - have, seed=have + 1)
    user = get_user_model().objects.get(username=owner)
    # Server-Timing is sent to staff only; the bench reads it.
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def fixtures(user):
    """A token, a cursor 10,000 pages deep, a tag to filter by and a 50-output pipeline."""
    from django.db import connection

    from conftest import make_pipeline
    from i2v.lib.pagination import encode_cursor
    from i2v.models import ApiToken
    from jobs.models import Pipeline

    token = ApiToken.issue(user)
    newest = Pipeline.ORDERINGS["newest"]
    # OFFSET only here, once, to find where page 10,000 starts; the app never uses it.
    deep_row = user.pipelines.filtered().order_by("-created_at", "-id").values_list("created_at", "id")[200_000 - 1]
    deep_cursor = encode_cursor(Pipeline, newest, list(deep_row))
    tag = user.tags.order_by("name").values_list("name", flat=True).first()
    big = user.pipelines.filter(name="bench: 50 outputs").first() or make_pipeline(user, name="bench: 50 outputs", outputs=50, steps=2)
    connection.close()
    return token, deep_cursor, tag, big.id


def serve(port, list_cache):
    env = {**os.environ, "LIST_CACHE": "1" if list_cache else "0", "SERVER_TIMING": "1", "RATE_LIMITS": "0", "ALLOWED_HOSTS": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "i2v.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def fetch(port, path, token, htmx=False):
    headers = {"Authorization": f"Bearer {token}"}
    if htmx:
        headers["HX-Request"] = "true"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        timing = TIMING.search(response.headers["Server-Timing"])
        assert response.status in (200, 286), (path, response.status)
    return float(timing.group(1)), int(timing.group(3)), len(body)


def measure(port, path, token, runs, htmx=True, warm=3):
    for _ in range(warm):
        fetch(port, path, token, htmx)
    samples = [fetch(port, path, token, htmx) for _ in range(runs)]
    times = sorted(s[0] for s in samples)
    return {
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "queries": max(s[1] for s in samples),
        "bytes": samples[-1][2],
    }


def combinations(user, runs=15):
    """In-process time of jobs_list() (the page's queries) for every sort with
    each hidden mode and the other filters: every one must find its index."""
    import datetime

    from jobs.models import Pipeline

    base = dict(status="", tag="", favorites=False, hidden="", q="", date_from=None, date_to=None, model="")
    tag = user.tags.order_by("name").values_list("name", flat=True).first()
    cases = [(f"sort={sort}, hidden={hidden or 'no'}", {**base, "hidden": hidden}, sort)
             for sort in Pipeline.ORDERINGS for hidden in ("", "include", "only")]
    cases += [
        ("favorites", {**base, "favorites": True}, "newest"),
        ("favorites, sort=name", {**base, "favorites": True}, "name"),
        ("model=veo-3, sort=cost", {**base, "model": "veo-3"}, "cost"),
        (f"tag={tag}, sort=oldest", {**base, "tag": tag}, "oldest"),
        ("status=failed, sort=name", {**base, "status": "failed"}, "name"),
        ("one week of dates", {**base, "date_from": datetime.date(2025, 6, 1), "date_to": datetime.date(2025, 6, 7)}, "newest"),
        ("q=sneakers, sort=cost", {**base, "q": "sneakers"}, "cost"),
        ("q=zzqq (no match)", {**base, "q": "zzqq"}, "newest"),
    ]
    print("\n| filters and sort (first page of 20, with its total) | p50 ms |")
    print("| --- | ---: |")
    for label, filters, sort in cases:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            Pipeline.objects.jobs_list(user.id, filters=filters, ordering=Pipeline.ORDERINGS[sort], cursor=None, page_size=20)
            times.append((time.perf_counter() - start) * 1000)
        print(f"| {label} | {statistics.median(times):.2f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1_000_000)
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the budgets are for that stack.")

    django_setup()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
    user = seed(args.owner, args.pipelines)
    total = user.pipelines.count()
    token, deep_cursor, tag, big_id = fixtures(user)
    from urllib.parse import quote

    uncached, cached = 8771, 8772
    servers = [serve(uncached, list_cache=False), serve(cached, list_cache=True)]
    try:
        rows = [
            ("Jobs list, first page (20 rows, HTML), uncached", uncached, "/jobs/"),
            ("same, cached", cached, "/jobs/"),
            ("page 10,000 pages deep, uncached", uncached, f"/jobs/?cursor={quote(deep_cursor)}"),
            (f"filtered: status=failed, tag={tag}, uncached", uncached, f"/jobs/?status=failed&tag={tag}"),
            ("filtered: search q=portrait, uncached", uncached, "/jobs/?q=portrait"),
            ("expand a pipeline with 50 outputs", uncached, f"/jobs/{big_id}/"),
            ("JSON, 20 summaries, uncached", uncached, "/api/pipelines?page_size=20"),
            ("JSON, 20 summaries, cached", cached, "/api/pipelines?page_size=20"),
            ("JSON, 1000 summaries, uncached", uncached, "/api/pipelines?page_size=1000"),
        ]
        results = []
        for label, port, path in rows:
            runs = args.runs if "1000 summaries" not in label else max(20, args.runs // 10)
            results.append((label, measure(port, path, token, runs)))
    finally:
        for server in servers:
            server.terminate()

    first = results[0][1]["p50"]
    deep = results[2][1]["p50"]
    print(f"\n{total:,} pipelines for one owner; {args.runs} requests per row after 3 warm-ups; "
          f"server time from Server-Timing; {time.strftime('%Y-%m-%d')}\n")
    print("| what | p50 ms | p95 ms | SQL queries | bytes |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, r in results:
        print(f"| {label} | {r['p50']:.2f} | {r['p95']:.2f} | {r['queries']} | {r['bytes']:,} |")
    print(f"\ndeep page / first page (p50): {deep / first:.2f}x")
    combinations(user)


if __name__ == "__main__":
    main()
