"""A word with a rare value, with and without that value's own text index, side by side (not a test).

Library migration 0015 and jobs migration 0021 give videos and each status but the common one a
trigram index of their own rows. This times, in-process, the first page (with its total) of the
combinations they serve, and the unfiltered first page, with those indexes and without them (dropped
inside a transaction that is rolled back: nothing changes for good). Each side runs in a process of
its own, the two alternating --rounds times, so that neither inherits what the other's first pages
kept for a minute (the planner's estimates and costs, i2v/lib/pagination.py); each process times every
combination --runs times, interleaved, after one warming call. Prints the medians of the rounds' medians.

--writes times instead what the indexes cost a write: 5,000 assets' status set from complete to pending, and
5,000 pipelines' from completed to running, in one UPDATE each (a row whose status becomes a rare value is
written into that value's index too), rolled back, each side a process of its own, alternating; both tables are
vacuumed after each (a rolled-back update leaves dead rows and its index entries behind, which later reads
would pay for).

Usage: DATABASE_URL=postgres://.../i2v_lsql_1m python bench/own_indexes.py [--owner bench] [--rounds 4] [--runs 7] [--writes]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

WORD = {"q": "sailboat"}
CASES = [
    ("Jobs", "first page (no filter)", {}),
    ("Jobs", "status=pending, tag=4k, q=sailboat", {"status": "pending", "tag": "4k", **WORD}),
    ("Jobs", "status=failed, tag=4k, q=sailboat", {"status": "failed", "tag": "4k", **WORD}),
    ("Jobs", "status=failed, q=sailboat", {"status": "failed", **WORD}),
    ("Jobs", "status=failed, q=sailboat, sort=cost", {"status": "failed", "sort": "cost", **WORD}),
    ("Jobs", "status=pending, q=sailboat", {"status": "pending", **WORD}),
    ("Library", "first page (no filter)", {}),
    ("Library", "kind=video, q=sailboat", {"kind": "video", **WORD}),
    ("Library", "status=failed, q=sailboat", {"status": "failed", **WORD}),
    ("Library", "source=upload, status=failed, q=sailboat", {"source": "upload", "status": "failed", **WORD}),
    ("Library", "kind=video, status=failed, q=sailboat", {"kind": "video", "status": "failed", **WORD}),
    ("Library", "status=pending, q=sailboat", {"status": "pending", **WORD}),
]


def own_indexes():
    """The names of the indexes the two migrations build."""
    from importlib import import_module

    return [*import_module("jobs.migrations.0021_search_by_status").NEW, *import_module("library.migrations.0015_search_rare_values").NEW]


# (table, column, from, to): the writes --writes times, on rows 500,000 to 504,999.
WRITES = [("library_asset", "processing_status", "complete", "pending"), ("jobs_pipeline", "status", "completed", "running")]


def child(owner, runs, without, writes):
    """One side's figures, as JSON on stdout: [(wall ms, SQL ms)] in CASES' order, or with
    `writes`, [(ms per row, rows)] in WRITES' order."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    import lists

    user = get_user_model().objects.get(username=owner)
    calls = [
        lists.measured((lists.jobs_call if name == "Jobs" else lists.library_call)(user, filters, 20 if name == "Jobs" else 60))
        for name, _, filters in CASES
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if without:
            cursor.execute(f"DROP INDEX {', '.join(own_indexes())}")
        if writes:
            found = []
            for table, column, before, after in WRITES:
                start = time.perf_counter()
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id BETWEEN 500000 AND 504999 AND {column} = %s", [after, before])
                found.append(((time.perf_counter() - start) * 1000 / max(cursor.rowcount, 1), cursor.rowcount))
        else:
            found = [lists.medians(samples, 2) for samples in lists.interleaved(calls, runs)[1]]
        transaction.set_rollback(True)
    print(json.dumps(found))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--writes", action="store_true", help="time a status change into a rare value instead")
    parser.add_argument("--child", choices=("with", "without"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL): the indexes are PostgreSQL's.")
    if args.child:
        return child(args.owner, args.runs, args.child == "without", args.writes)
    sides = {"with": [], "without": []}
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}; "
          f"{args.rounds} rounds of each side, alternating, {args.runs} interleaved runs per round")  # fmt: skip
    for _ in range(args.rounds):
        for side in ("without", "with"):
            out = subprocess.run(
                [sys.executable, __file__, "--owner", args.owner, "--runs", str(args.runs), "--child", side, *(["--writes"] if args.writes else [])],
                capture_output=True, text=True, check=True,
            ).stdout
            sides[side].append(json.loads(out.strip().splitlines()[-1]))
            if args.writes:
                vacuum()
    if args.writes:
        return print_writes(sides)
    median = {side: [[statistics.median(r[i][f] for r in rounds) for f in (0, 1)] for i in range(len(CASES))] for side, rounds in sides.items()}
    firsts = {side: {name: median[side][[c[0] for c in CASES].index(name)][0] for name in ("Jobs", "Library")} for side in median}
    print("\n| list | filters | without: ms | SQL ms | / first page | with: ms | SQL ms | / first page | with / without |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, (name, label, _) in enumerate(CASES):
        (w_ms, w_sql), (o_ms, o_sql) = median["without"][i], median["with"][i]
        print(
            f"| {name} | {label} | {w_ms:.2f} | {w_sql:.2f} | {w_ms / firsts['without'][name]:.2f}x "
            f"| {o_ms:.2f} | {o_sql:.2f} | {o_ms / firsts['with'][name]:.2f}x | {o_ms / w_ms:.2f} |"
        )


def vacuum():
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        for table, *_ in WRITES:
            cursor.execute(f"VACUUM {table}")


def print_writes(sides):
    print("\n| UPDATE of rows 500,000-504,999 (rolled back) | rows | without: ms per row | with: ms per row | with / without |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for i, (table, column, before, after) in enumerate(WRITES):
        without, with_ = (statistics.median(r[i][0] for r in sides[side]) for side in ("without", "with"))
        print(f"| {table}.{column} {before} -> {after} | {sides['with'][0][i][1]:,} | {without:.3f} | {with_:.3f} | {with_ / without:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
