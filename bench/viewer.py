"""Benchmark of what the viewer added (not a test): prints Markdown tables.

- The Library's first page now leaves hidden assets out (an `is_hidden = false`
  filter on the same index): the default view against `?hidden=include` (the
  query as it was before, no such filter) and `?hidden=only` (its partial index),
  side by side in one run, at --assets assets of one owner of which --hidden are hidden.
- The details panel (GET /assets/<id>/, HX-Request) of a generated output and of
  an upload, and the star (POST /assets/<id>/favorite).
- A pipeline's expansion with 50 outputs, and how many of its bytes the viewer's
  tile attributes are.

In-process through Django's test client (list cache off): wall time of the
request as a view sees it, median and p95 of --runs after 3 warm-ups, SQL
statements, response bytes. The assets are inserted once by one INSERT ...
SELECT generate_series and kept (--keep-db) for the next run.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/i2v_viewer_bench VAR_DIR=/tmp/var-viewer \\
       python bench/viewer.py [--assets 1000000] [--hidden 50] [--runs 100] [--keep-db]
"""

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
os.environ["LIST_CACHE"] = "0"
sys.path.insert(0, str(ROOT / "bench"))

from pipelines import PROTECTED_DATABASES, drop_database, ensure_database  # noqa: E402

OWNER = "viewer-bench"
SEED = """
INSERT INTO library_asset (owner_id, kind, source, original, filename, prompt, sha256, mime, width, height, bytes,
    exif, thumbhash, renditions, processing_status, thumbnail_status, variant_status, attempts, last_error,
    created_at, remote_url, is_favorite, is_hidden)
SELECT %(owner)s, 'image', 'generated', 'u/' || %(owner)s || '/o/' || left(md5(n::text), 2) || '/' || md5(n::text) || md5(n::text) || '.jpg',
    'bench-' || n || '.jpg', 'a prompt number ' || n, md5(n::text) || md5(n::text), 'image/jpeg', 1024, 768, 200000,
    '{}', '', '{}', 'complete', 'complete', 'complete', 0, '',
    now() - n * interval '1 second', '', n %% 97 = 0, n <= %(hidden)s OR n %% (%(total)s / greatest(%(hidden)s, 1)) = 0
FROM generate_series(1, %(total)s) AS n
"""


def seed(owner, total, hidden):
    from django.db import connection

    from library.models import Asset

    if Asset.objects.filter(owner=owner).count() >= total:
        return
    Asset.objects.filter(owner=owner).delete()
    with connection.cursor() as cursor:
        # Hidden: spread through the whole list (every total/hidden-th row), so the default view skips some on every page.
        cursor.execute(SEED, {"owner": owner.id, "total": total, "hidden": hidden // 2})
        cursor.execute("ANALYZE library_asset")


def expansion(owner):
    from conftest import make_pipeline

    return owner.pipelines.filter(name="bench: 50 outputs").first() or make_pipeline(owner, name="bench: 50 outputs", outputs=50)


def measure(client, runs, method, path, **headers):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = getattr(client, method)
    for _ in range(3):
        response = call(path, **headers)
        assert response.status_code in (200, 302), (path, response.status_code)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call(path, **headers)
        times.append(time.perf_counter() - start)
    with CaptureQueriesContext(connection) as queries:
        response = call(path, **headers)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000, len(queries), len(response.content), response


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--keep-db", action="store_true", help="keep a database this run created")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database of this benchmark's own (e.g. .../i2v_viewer_bench).")
    if urlsplit(url).path.lstrip("/") in PROTECTED_DATABASES:
        raise SystemExit("Give this benchmark its own database: it writes rows.")
    created = ensure_database(url)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import setup_test_environment

        from jobs.tests.conftest import make_source
        from library.models import Asset
        from viewer.tests.factories import make_output

        setup_test_environment()  # the test client's hosts and response context
        owner, _ = get_user_model().objects.get_or_create(username=OWNER)
        started = time.perf_counter()
        seed(owner, args.assets, args.hidden)
        seeded = time.perf_counter() - started
        hidden = Asset.objects.filter(owner=owner, is_hidden=True).count()
        big = expansion(owner)
        source = make_source(owner)
        output = make_output(owner, source)
        client = Client()
        client.force_login(owner)
        hx = {"HTTP_HX_REQUEST": "true"}
        rows = [
            ("Library, first page, default (hidden left out)", measure(client, args.runs, "get", "/library/", **hx)),
            ("same, ?hidden=include (no hidden filter: the query before)", measure(client, args.runs, "get", "/library/?hidden=include", **hx)),
            ("same, ?hidden=only", measure(client, args.runs, "get", "/library/?hidden=only", **hx)),
            ("details panel, generated output", measure(client, args.runs, "get", f"/assets/{output.asset_id}/?output={output.id}", **hx)),
            ("details panel, upload", measure(client, args.runs, "get", f"/assets/{source.id}/", **hx)),
            ("star (POST /assets/<id>/favorite), panel redrawn", measure(client, args.runs, "post", f"/assets/{output.asset_id}/favorite?output={output.id}", **hx)),
            ("expand a pipeline with 50 outputs", measure(client, args.runs, "get", f"/jobs/{big.id}/", **hx)),
        ]  # fmt: skip
        body = rows[-1][1][4].content.decode()
        viewer_bytes = sum(len(m) for m in re.findall(r' data-(?:viewer-item|output|kind|favorite|hidden)(?:="[^"]*")?', body))
        today = datetime.date.today().isoformat()
        print(f"\n`python bench/viewer.py --assets {args.assets} --hidden {args.hidden} --runs {args.runs}`, {today}, "
              f"PostgreSQL, {Asset.objects.filter(owner=owner).count():,} assets of one owner, {hidden} hidden, "
              f"seeded in {seeded:.0f} s, load {load}\n")  # fmt: skip
        print("| what | p50 ms | p95 ms | SQL queries | bytes |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, (p50, p95, queries, size, _) in rows:
            print(f"| {label} | {p50:.2f} | {p95:.2f} | {queries} | {size:,} |")
        default, before = rows[0][1][0], rows[1][1][0]
        print(f"\nDefault / before (p50): **{default / before:.2f}x**. The viewer's tile attributes in the 50-output "
              f"expansion: {viewer_bytes:,} of {len(body):,} bytes.")  # fmt: skip
    finally:
        if created and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(url)


if __name__ == "__main__":
    main()
