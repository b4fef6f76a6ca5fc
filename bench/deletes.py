"""Benchmark of big deletes (not a test): prints a Markdown table.

Django's QuerySet.delete(), which deleting pipelines used before (it loads every
step and output that a signal receiver or a cascade concerns, and sends a signal
per row: a cache write per row after commit), against i2v.lib.bulk.delete_rows()
behind PipelineQuerySet.apply_bulk("delete") and AssetQuerySet.delete_in_bulk(),
side by side on the same freshly seeded data, in one run:

  pipelines  --pipelines pipelines of --steps steps with one output (and its asset) per step
  assets     --assets library assets (no outputs): the ORM delete (the admin's) against delete_in_bulk()

For each: wall time (median of --runs), SQL statements, list-cache version writes
after commit, and peak Python memory (tracemalloc, in a separate run of its own).

Runs on PostgreSQL in a database of its own (created when missing, dropped at the end
unless --keep-db), media under a temporary VAR_DIR (no file is written).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/i2v_bench_del python bench/deletes.py \
       [--pipelines 10] [--steps 2000] [--assets 20000] [--runs 3]
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
sys.path.insert(0, str(ROOT / "bench"))

from pipelines import PROTECTED_DATABASES, drop_database, ensure_database  # noqa: E402


def seed_pipelines(owner, pipelines, steps):
    from django.utils import timezone

    from jobs.models import Output, Pipeline, Step
    from library.models import Asset

    now = timezone.now()
    made = Pipeline.objects.bulk_create(Pipeline(owner=owner, name=f"bench {i}", created_at=now) for i in range(pipelines))
    for p in made:
        rows = Step.objects.bulk_create(
            (Step(owner=owner, pipeline=p, kind="i2i", order=n, config={"model": "local-i2i", "prompt": "x"}) for n in range(steps)),
            batch_size=2000,
        )
        assets = Asset.objects.bulk_create(
            (Asset(owner=owner, sha256=f"{p.id:032x}{n:032x}", original=f"u/{owner.id}/o/00/{p.id:032x}{n:032x}.jpg", source="generated")
             for n in range(steps)),
            batch_size=2000,
        )  # fmt: skip
        Output.objects.bulk_create(
            (Output(owner=owner, pipeline=p, step=s, asset=a, position=s.order) for s, a in zip(rows, assets, strict=True)),
            batch_size=2000,
        )
    return Pipeline.objects.filter(owner=owner)


def seed_assets(owner, count):
    from library.models import Asset

    renditions = {str(s): {"name": f"u/{owner.id}/r/00/0000000000-{s:012x}.jpg", "w": s, "h": s} for s in (150, 300, 600)}
    Asset.objects.bulk_create(
        (Asset(owner=owner, sha256=f"{n:064x}", original=f"u/{owner.id}/o/00/{n:064x}.jpg", renditions=renditions) for n in range(count)),
        batch_size=2000,
    )
    return Asset.objects.filter(owner=owner)


def new_owner():
    import uuid

    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(f"bench-del-{uuid.uuid4().hex[:8]}")


def measure(delete, seed, memory):
    """One deletion of freshly seeded rows: (seconds, statements, cache writes) or peak bytes with `memory`."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    import i2v.lib.cache as cache
    from i2v.lib.bulk import delete_rows

    owner = new_owner()
    queryset = seed(owner)
    statements, writes = [0], [0]
    real_bump = cache.bump_owner_version

    def counting_bump(scope, owner_id):
        writes[0] += 1
        real_bump(scope, owner_id)

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    cache.bump_owner_version = counting_bump
    try:
        with connection.execute_wrapper(count):
            if memory:
                tracemalloc.start()
            started = time.perf_counter()
            with transaction.atomic():
                delete(queryset, owner)
            elapsed = time.perf_counter() - started
            if memory:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
    finally:
        cache.bump_owner_version = real_bump
    with transaction.atomic():
        delete_rows(get_user_model().objects.filter(pk=owner.pk))  # what the path left (the pipelines' assets)
    return peak if memory else (elapsed, statements[0], writes[0])


def compare(label, seed, paths, runs):
    rows = []
    for name, delete in paths:
        timings = [measure(delete, seed, memory=False) for _ in range(runs)]
        peak = measure(delete, seed, memory=True)
        median = statistics.median(t[0] for t in timings)
        rows.append((label, name, median, timings[0][1], timings[0][2], peak))
        print(f"{label} / {name}: {median * 1000:.0f} ms", file=sys.stderr)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--assets", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true", help="keep a database this run created")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database of this benchmark's own (e.g. .../i2v_bench_del).")
    if urlsplit(url).path.lstrip("/") in PROTECTED_DATABASES:
        raise SystemExit("Give this benchmark its own database: it writes and deletes rows.")
    own_var = "VAR_DIR" not in os.environ
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="i2v-bench-del-"))
    created = ensure_database(url)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()

        def pipelines(owner):
            return seed_pipelines(owner, args.pipelines, args.steps)

        def assets(owner):
            return seed_assets(owner, args.assets)

        rows = compare(
            f"{args.pipelines} pipelines x {args.steps} steps and outputs", pipelines,
            [("QuerySet.delete() (before)", lambda qs, owner: qs.delete()),
             ('apply_bulk("delete") (now)', lambda qs, owner: qs.apply_bulk("delete", owner))],
            args.runs,
        )  # fmt: skip
        rows += compare(
            f"{args.assets} library assets", assets,
            [("QuerySet.delete() (the admin's)", lambda qs, owner: qs.delete()),
             ("delete_in_bulk() (Library, API)", lambda qs, owner: qs.delete_in_bulk())],
            args.runs,
        )  # fmt: skip
        today = datetime.date.today().isoformat()
        print(f"\n`python bench/deletes.py --pipelines {args.pipelines} --steps {args.steps} --assets {args.assets} "
              f"--runs {args.runs}`, {today}, PostgreSQL, load {load}\n")  # fmt: skip
        print("| data | path | median ms | SQL statements | cache writes | peak Python memory |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, name, median, statements, writes, peak in rows:
            print(f"| {label} | {name} | {median * 1000:,.0f} | {statements:,} | {writes:,} | {peak / 1048576:,.1f} MB |")
    finally:
        if created and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(url)
        if own_var:
            shutil.rmtree(os.environ["VAR_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
