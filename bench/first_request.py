"""What the first request of a new process and connection costs against the next (not a test).

A kept connection lives CONN_MAX_AGE (60 s) and a list's planner estimates a minute
(i2v/lib/pagination.py ESTIMATES_KEPT), so every process meets each list afresh once a minute:
this times that request. Each round starts one child process per path and variant (a new process,
a new database connection, nothing kept), which asks for the path in-process through Django's test
client (list cache off, as the owner), twice: the SQL ms (time in cursor.execute) and queries of
the first request and of the second. Variants are the connection's `options` (libpq's
command-line options, e.g. "-c jit=on"), taken in turns so the machine's drift falls on all alike.
Prints a Markdown table of medians.

Usage: DATABASE_URL=postgres://.../i2v_x REDIS_URL=redis://127.0.0.1:6379/N \\
       python bench/first_request.py [--owner bench] [--rounds 5] [--variants "-c jit=on,-c jit=off"] PATH...
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(owner, paths):
    """Run in the child: print [[first SQL ms, queries, second SQL ms, queries], ...] for `paths`."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    spent = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=owner))
    figures = []
    for path in paths:
        pair = []
        for _ in range(2):
            spent.clear()
            with connection.execute_wrapper(timed):
                response = client.get(path, HTTP_HX_REQUEST="true")
            assert response.status_code == 200, (path, response.status_code)
            pair += [sum(spent) * 1000, len(spent)]
        figures.append(pair)
    print(json.dumps(figures))


def run(owner, paths, options):
    """[[first SQL ms, queries, second SQL ms, queries], ...] of `paths`, each in a child of its own."""
    env = {**os.environ, "LIST_CACHE": "0", "RATE_LIMITS": "0", "I2V_BENCH_OPTIONS": options}
    figures = []
    for path in paths:
        done = subprocess.run([sys.executable, __file__, "--child", "--owner", owner, path], env=env, capture_output=True, text=True, check=True)
        figures.append(json.loads(done.stdout.splitlines()[-1])[0])
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="", help="comma-separated connection options, one variant each")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        options = os.environ.get("I2V_BENCH_OPTIONS")
        if options:  # the URL's options: i2v/lib/env.py reads its query string into OPTIONS
            url = os.environ["DATABASE_URL"]
            os.environ["DATABASE_URL"] = f"{url}{'&' if '?' in url else '?'}options={urllib.parse.quote(options)}"
        return child(args.owner, args.paths)
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else [""]
    taken = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in variants[:: 1 if round_ % 2 == 0 else -1]:
            taken[variant].append(run(args.owner, args.paths, variant))
    print(f"\n{args.rounds} rounds, a new process and connection each; SQL ms (queries), medians\n")
    print("| path | " + " | ".join(f"{v or 'as configured'}: first | next" for v in variants) + " |")
    print("| --- |" + " ---: | ---: |" * len(variants))
    for i, path in enumerate(args.paths):
        cells = []
        for variant in variants:
            rows = [figures[i] for figures in taken[variant]]
            first, next_ = statistics.median(r[0] for r in rows), statistics.median(r[2] for r in rows)
            cells += [f"{first:.1f} ({rows[-1][1]})", f"{next_:.1f} ({rows[-1][3]})"]
        print(f"| `{path}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
