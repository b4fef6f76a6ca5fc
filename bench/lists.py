"""Every filter of the Jobs and Library lists, alone, in pairs and in threes, at scale (not a test).

For each combination it times what the list views run for a first page, in-process:
jobs_list() / library_list() through the ORM, page and total, and the SQL part of
it (every statement's time, from a connection execute wrapper). It prints a Markdown
table of every combination with its median and its ratio to the unfiltered first
page, then the ones past the goal: 2x the first page, or 30 ms of SQL. The runs are
interleaved (each round calls every combination once), as issue 10 measured them.

--http times the same combinations from outside, as issue 10 first measured them: the
uncached HTMX results fragment of /jobs/ and /library/ (the list cache off), served by
gunicorn with 1 worker and 1 thread (bench/hot_paths.py's server), by the server's own
time and query count (its Server-Timing header, sent to staff: the owner is made staff).

The pipelines must be there already (seed_demo); --assets N first clones the
owner's painted assets (seed_demo's pool) by SQL into N library rows with names,
hashes, sources, statuses and dates of their own, 1 % of them favourites, as a person
stars a few by hand (see docs/benchmarks.md).
Otherwise this script only reads.

--second times, in-process, the second page of each combination that has one (a cursor's page,
as infinite scroll asks for it) against the unfiltered list's second page.
--back times the second page the same way, found backwards from the third page's prev_cursor
(GET /api/pipelines and /api/library/images give that link).

--texts T [T ...] times these texts (q=) on each list instead of the combinations, beside the unfiltered
list (with --second or --back, their cursor's pages): run from two checkouts in turn to compare them.
--filters F [F ...] does the same for filters written as a query string each ("q=neon portrait&kind=video").

Usage: DATABASE_URL=postgres://... python bench/lists.py [--owner bench] [--runs 7] [--only jobs|library] [--assets 1000000] [--http] [--second | --back] [--texts T ... | --filters F ...]
"""

import argparse
import datetime
import itertools
import os
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

WEEK = {"date_from": datetime.date(2025, 6, 1), "date_to": datetime.date(2025, 6, 7)}
MONTH_FIRST_HALF = {"date_from": datetime.date(2025, 6, 1), "date_to": datetime.date(2025, 6, 14)}
MONTH = {"date_from": datetime.date(2025, 6, 1), "date_to": datetime.date(2025, 6, 30)}
YEAR = {"date_from": datetime.date(2025, 1, 1), "date_to": datetime.date(2025, 12, 31)}

# One value per filter: the rarer of the realistic ones, so that pairs and threes
# include the combinations that match little or nothing (pending pipelines run on
# local models, so status=pending with model=veo-3 matches none).
JOBS = {
    "status=pending": {"status": "pending"},
    "tag=4k": {"tag": "4k"},
    "favorites": {"favorites": True},
    "hidden=only": {"hidden": "only"},
    "q=sailboat": {"q": "sailboat"},
    "model=veo-3": {"model": "veo-3"},
    "one week": WEEK,
    "sort=cost": {"sort": "cost"},
}
# The combinations issue 10 measured, and a few with the common values.
JOBS_EXTRA = [
    {"status": "failed", "tag": "4k"},
    {"q": "sailboat", "tag": "4k", "status": "failed"},
    # Failed pipelines are a status the pairs above don't try (pending is the atoms'), and there are 90,000 of them.
    {"q": "sailboat", "status": "failed", "sort": "cost"},
    {"q": "sailboat", "status": "failed"},
    {"favorites": True, "tag": "archive", "q": "portrait"},
    {"status": "completed", "model": "flux-kontext", "tag": "archive"},
    {"hidden": "include", "tag": "archive", "sort": "name"},
    {"q": "zzqq"},
    {"tag": "no-such-tag"},
    # Ranges longer than a short one (i2v/lib/filters.py SHORT_RANGE) sorted in an order no index
    # reads them in: seed_demo prices each pipeline as the catalog bills it, so a range's rows lie
    # all along the cost order.
    {**MONTH_FIRST_HALF, "sort": "cost"},
    {**MONTH, "sort": "cost"},
    {**MONTH, "sort": "name"},
    {**YEAR, "sort": "cost"},
    # A word in a month by cost: no short range, its days too many to merge (jobs/listing.py WALKED_DAYS).
    {**MONTH, "q": "sailboat", "sort": "cost"},
    # Phrases of common words: pg_trgm offers every row holding the words anywhere, and the planner
    # guesses a phrase's matches from a hundred sampled values. The second and third match nothing,
    # the third's words parted by punctuation.
    {"q": "neon portrait"},
    {"q": "a sailboat"},
    {"q": "portrait, neon"},
]
LIBRARY = {
    "kind=video": {"kind": "video"},
    "source=upload": {"source": "upload"},
    "status=failed": {"status": "failed"},
    "q=sailboat": {"q": "sailboat"},
    "one week": WEEK,
    "favorites": {"favorites": True},
}
LIBRARY_EXTRA = [
    {"q": "img_00012"},
    {"q": "img_00012", "kind": "video"},
    {"status": "pending", "kind": "video", "source": "upload"},
    {"q": "zzqq"},
    {"q": "neon portrait"},
    {"q": "a sailboat"},
    {"q": "portrait, neon"},
    # A phrase with a kind, source or status none of its assets has (here the copies of a pool asset share its kind,
    # their source and their status drawn alike: no video, upload or failed asset holds "neon portrait").
    {"q": "neon portrait", "kind": "video"},
    {"q": "neon portrait", "source": "upload"},
    {"q": "neon portrait", "status": "failed"},
    # Favourites hidden or not (the atoms' are the visible ones), and with the common values.
    {"favorites": True, "hidden": "include"},
    {"favorites": True, "hidden": "only"},
    {"favorites": True, "kind": "image", "source": "generated", "status": "complete"},
]


# Library rows cloned from the owner's painted pool: same files and renditions; 30 % uploads;
# 93 % complete, 3 % pending, 1.5 % processing, 2 % failed, 0.5 % remote; 1 % favourites, drawn by a hash
# of the row's number (as a person stars them, unrelated to kind, source, status, text or date: every
# hundredth row would be one pool asset's, all uploads, all complete); one every 63 s over two years.
CLONE_ASSETS = """
INSERT INTO library_asset (owner_id, kind, source, original, filename, prompt, sha256, mime, width, height, duration,
  bytes, exif, taken_at, thumbhash, renditions, processing_status, thumbnail_status, variant_status, attempts,
  last_error, created_at, remote_url, is_favorite)
SELECT p.owner_id, p.kind, CASE WHEN (g * 7) %% 10 < 3 THEN 'upload' ELSE 'generated' END, p.original,
  'img_' || lpad(g::text, 7, '0') || CASE WHEN p.kind = 'video' THEN '.mp4' ELSE '.jpg' END, p.prompt,
  md5(g::text) || md5('x' || g::text), p.mime, p.width, p.height, p.duration, p.bytes, '{}'::jsonb, NULL,
  p.thumbhash, p.renditions, s.st, s.st, s.st, CASE WHEN s.st = 'failed' THEN 3 ELSE 1 END,
  CASE WHEN s.st = 'failed' THEN 'could not decode' ELSE '' END,
  now() - make_interval(secs => g * 63 + (g * 31) %% 60), '', abs(hashtext('favorite ' || g)) %% 100 = 0
FROM generate_series(1, %(n)s) g
JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS rn, * FROM library_asset WHERE owner_id = %(owner)s) p
  ON p.rn = (g * 37) %% %(pool)s
CROSS JOIN LATERAL (SELECT CASE WHEN (g * 13) %% 1000 < 930 THEN 'complete' WHEN (g * 13) %% 1000 < 960 THEN 'pending'
  WHEN (g * 13) %% 1000 < 975 THEN 'processing' WHEN (g * 13) %% 1000 < 995 THEN 'failed' ELSE 'remote' END AS st) s
"""


def clone_assets(user, wanted):
    from django.db import connection

    pool = user.assets.count()
    if pool >= wanted:
        return
    print(f"cloning {wanted - pool:,} assets from {pool} painted ones", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute(CLONE_ASSETS, {"n": wanted - pool, "owner": user.id, "pool": pool})
        cursor.execute("VACUUM ANALYZE library_asset")


def combinations(atoms, extra):
    yield "first page (no filter)", {}
    for n in (1, 2, 3):
        for names in itertools.combinations(atoms, n):
            merged = {}
            for name in names:
                merged.update(atoms[name])
            yield ", ".join(names), merged
    for filters in extra:
        yield ", ".join(f"{k}={v}" for k, v in filters.items()), filters


class SqlClock:
    """Time spent in the database, from Django's execute wrapper."""

    def __init__(self):
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


def measured(call):
    """`call` made into a sample: (ms, SQL ms, queries, rows, total) of one call."""
    from django.db import connection

    def sample():
        clock = SqlClock()
        with connection.execute_wrapper(clock):
            start = time.perf_counter()
            page, total = call()
            wall = (time.perf_counter() - start) * 1000
        return wall, clock.seconds * 1000, clock.queries, len(page.items), total

    return sample


def interleaved(calls, runs):
    """(firsts, samples): one warming call of each, then `runs` samples of every call, taken
    in turns: every round calls each once, so the machine's drifts (load, clock speed, caches)
    weigh on all alike and each ratio compares calls made side by side. The warming call is
    the first of its filters in this process, before it has kept any estimate of them
    (i2v/lib/pagination.py first_page()), and is shown beside the medians."""
    firsts = [call() for call in calls]
    samples = [[] for _ in calls]
    for _ in range(runs):
        for taken, call in zip(samples, calls):
            taken.append(call())
    return firsts, samples


def medians(samples, fields):
    return [statistics.median(s[i] for s in samples) for i in range(fields)]


def jobs_call(user, filters, page_size, cursor=None):
    from jobs.models import Pipeline

    base = dict(status="", tag="", favorites=False, hidden="", q="", date_from=None, date_to=None, model="")
    given = {k: v for k, v in filters.items() if k != "sort"}
    ordering = Pipeline.ORDERINGS[filters.get("sort", "newest")]
    return lambda: Pipeline.objects.jobs_list(user.id, filters={**base, **given}, ordering=ordering, cursor=cursor, page_size=page_size)


def library_call(user, filters, page_size, cursor=None):
    from library.models import Asset

    base = dict(kind="", source="", status="", favorites=False, q="", date_from=None, date_to=None)
    return lambda: Asset.objects.library_list(user.id, filters={**base, **filters}, cursor=cursor, page_size=page_size)


def second_pages(user, cases, call, page_size, back=False):
    """(cases, call) for the second page of each case that has one: its cursor taken from the first,
    or, `back`, the third's prev_cursor (the API's link back) for each case that has a third page."""

    def cursor(filters):
        found = call(user, filters, page_size)()[0].next_cursor
        if back and found:
            found = call(user, filters, page_size, found)()[0].next_cursor
            found = found and call(user, filters, page_size, found)()[0].prev_cursor
        return found

    cursors = {id(filters): cursor(filters) for _, filters in cases}
    kept = [(label, filters) for label, filters in cases if cursors[id(filters)]]
    return kept, lambda user, filters, page_size: call(user, filters, page_size, cursors[id(filters)])


def query_string(filters):
    """The list page's query string for `filters` (as the forms read them)."""
    pairs = [(k, "1" if v is True else v.isoformat() if isinstance(v, datetime.date) else v) for k, v in filters.items()]
    return urllib.parse.urlencode(pairs)


def http_call(port, token, path):
    """A call returning (server ms, SQL ms, queries, bytes) of one uncached fragment."""
    import hot_paths

    return lambda: hot_paths.fetch(port, path, token, htmx=True)


def run_http(title, cases, port, token, base, runs):
    calls = [http_call(port, token, f"{base}?{query_string(filters)}") for _, filters in cases]
    firsts, taken = interleaved(calls, runs)
    results = [
        (label, *medians(samples, 2), samples[-1][2], samples[-1][3], warming[0])
        for (label, _), samples, warming in zip(cases, taken, firsts)
    ]
    first = results[0][1]
    print(f"\n### {title}: the uncached first page's fragment from outside (server time), {runs} interleaved runs each (median)\n")
    print("| filters | server ms | SQL ms | / first page | queries | bytes | first call ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    over = []
    for label, server, sql, queries, size, warming in results:
        print(f"| {label} | {server:.2f} | {sql:.2f} | {server / first:.2f}x | {queries} | {size:,} | {warming:.2f} |")
        if server / first > 2 or sql > 30:
            over.append((label, server, sql, server / first))
    print(f"\n{len(results)} combinations; first page {first:.2f} ms ({results[0][2]:.2f} ms SQL).")
    for label, server, sql, ratio in over:
        print(f"- past the goal: {label}: {server:.2f} ms, {sql:.2f} ms SQL, {ratio:.2f}x")
    if not over:
        print("Every combination is within 2x the first page and 30 ms of SQL.")
    return over


def run(title, user, cases, call, page_size, runs, which="first page with its total"):
    calls = [measured(call(user, filters, page_size)) for _, filters in cases]
    firsts, taken = interleaved(calls, runs)
    results = [
        (label, *medians(samples, 2), samples[-1][2], samples[-1][3], samples[-1][4], warming[0])
        for (label, _), samples, warming in zip(cases, taken, firsts)
    ]
    first_wall, first_sql = results[0][1], results[0][2]
    print(f"\n### {title}: {which} of {page_size}, {runs} interleaved runs each (median)\n")
    print("| filters | ms | SQL ms | / first page | SQL queries | rows | total | first call ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    over = []
    for label, wall, sql, queries, rows, total, warming in results:
        shown = "-" if total is None else f"{'≥' if total.at_least else '~' if total.is_estimate else ''}{total.count:,}"
        ratio = wall / first_wall
        print(f"| {label} | {wall:.2f} | {sql:.2f} | {ratio:.2f}x | {queries} | {rows} | {shown} | {warming:.2f} |")
        if ratio > 2 or sql > 30:
            over.append((label, wall, sql, ratio))
    print(f"\n{len(results)} combinations; first page {first_wall:.2f} ms ({first_sql:.2f} ms SQL).")
    if over:
        print("Past the goal (> 2x the first page, or > 30 ms of SQL):")
        for label, wall, sql, ratio in over:
            print(f"- {label}: {wall:.2f} ms, {sql:.2f} ms SQL, {ratio:.2f}x")
    else:
        print("Every combination is within 2x the first page and 30 ms of SQL.")
    return over


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", choices=("jobs", "library"))
    parser.add_argument("--assets", type=int, default=0, help="first clone the painted assets up to this many")
    parser.add_argument("--http", action="store_true", help="time the uncached fragments from outside, through gunicorn")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--second", action="store_true", help="time the second page (a cursor's) of each, in-process")
    parser.add_argument("--back", action="store_true", help="time the second page found back from the third, in-process")
    parser.add_argument("--texts", nargs="+", metavar="T", help="time these texts (q=) instead of the combinations")
    parser.add_argument("--filters", nargs="+", metavar="F", help="time these filters (a query string each) instead of the combinations")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL): the goals are for that stack.")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    user = get_user_model().objects.get(username=args.owner)
    if args.assets:
        clone_assets(user, args.assets)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    pipelines, assets = user.pipelines.count(), user.assets.count()
    print(f"{pipelines:,} pipelines and {assets:,} assets for one owner; {version}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}")
    if args.http:
        return http(user, args)
    over = []
    lists = {"jobs": ("Jobs", JOBS, JOBS_EXTRA, jobs_call, settings.JOBS_PAGE_SIZE),
             "library": ("Library", LIBRARY, LIBRARY_EXTRA, library_call, settings.LIBRARY_PAGE_SIZE)}  # fmt: skip
    for name, (title, atoms, extra, call, size) in lists.items():
        if args.only in (None, name):
            asked = [(f"q={t}", {"q": t}) for t in args.texts or ()] + [(f, parsed(f)) for f in args.filters or ()]
            cases = [("first page (no filter)", {}), *asked] if asked else list(combinations(atoms, extra))
            if args.second or args.back:
                cases, call = second_pages(user, cases, call, size, back=args.back)
            which = "second page (a backward cursor's)" if args.back else "second page (a cursor's)" if args.second else "first page with its total"
            over += run(title, user, cases, call, size, args.runs, which)
    return 1 if over else 0


def parsed(query):
    """--filters' query string ("q=neon portrait&kind=video&date_from=2026-11-01") as the combinations' filters."""
    filters = dict(urllib.parse.parse_qsl(query, strict_parsing=True))
    for name in ("date_from", "date_to"):
        if name in filters:
            filters[name] = datetime.date.fromisoformat(filters[name])
    if "favorites" in filters:
        filters["favorites"] = True
    return filters


def http(user, args):
    import hot_paths
    from django.db import connection

    if not user.is_staff:  # Server-Timing is sent to staff only
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    token = hot_paths.token_header(user)
    connection.close()
    server = hot_paths.serve(args.port, list_cache=False)
    try:
        over = []
        if args.only != "library":
            over += run_http("Jobs", list(combinations(JOBS, JOBS_EXTRA)), args.port, token, "/jobs/", args.runs)
        if args.only != "jobs":
            over += run_http("Library", list(combinations(LIBRARY, LIBRARY_EXTRA)), args.port, token, "/library/", args.runs)
    finally:
        server.terminate()
        server.wait()
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
