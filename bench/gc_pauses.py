"""The garbage collector's share of uncached list pages (not a test): prints a Markdown table.

i2v/wsgi.py freezes what the application loaded out of the collector's sight (gc.freeze()).
This times, in a process of its own for each run, --requests uncached Library (or --path)
pages through i2v.wsgi.application with a logged-in session, the owner's list version bumped
before each (bench/list_cache.py's miss): the CPU per request (median, 99th percentile, the
longest), the collector's own CPU per request (gc.callbacks) and its collections by
generation. Runs alternate "frozen" (the application as the servers load it) with "thawed"
(gc.unfreeze() right after the import: every object it loaded back in the oldest generation,
as before the freeze), so both are measured side by side.

Usage: DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/N \\
       python bench/gc_pauses.py [--owner bench] [--requests 2000] [--rounds 2] [--path /library/ --scope library]
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


def child(args):
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
    os.environ["LIST_CACHE"] = "1"
    import gc

    import i2v.wsgi

    if args.child == "thawed":
        gc.unfreeze()
    from django.contrib.auth import get_user_model

    import list_cache
    from i2v.lib.cache import bump_owner_version

    user = get_user_model().objects.get(username=args.owner)
    request = list_cache.requester(i2v.wsgi.application, args.path, list_cache.session_cookie(user), True)
    collector = {"cpu": 0.0, "started": 0.0, "collections": [0, 0, 0]}

    def timed(phase, info):
        if phase == "start":
            collector["started"] = time.process_time()
        else:
            collector["cpu"] += time.process_time() - collector["started"]
            collector["collections"][info["generation"]] += 1

    cpu = []
    for n in range(args.requests + 20):
        if n == 20:  # after the warm-ups
            gc.callbacks.append(timed)
        bump_owner_version(args.scope, user.pk)
        started = time.process_time()
        request()
        if n >= 20:
            cpu.append(time.process_time() - started)
    cpu.sort()
    print(json.dumps({
        "median": statistics.median(cpu) * 1000, "p99": cpu[int(len(cpu) * 0.99)] * 1000, "longest": cpu[-1] * 1000,
        "gc": collector["cpu"] / len(cpu) * 1000, "collections": collector["collections"], "frozen": gc.get_freeze_count(),
    }))  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", default="/library/")
    parser.add_argument("--scope", default="library", help="the list cache's scope of --path (jobs or library)")
    parser.add_argument("--child", choices=("frozen", "thawed"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"{args.requests} uncached {args.path} pages per run after 20 warm-ups, one process per run; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}\n")
    print("| run | CPU ms median | p99 | longest | collector CPU ms/request | collections (gen 0/1/2) | objects frozen |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for round_ in range(1, args.rounds + 1):
        for mode in ("thawed", "frozen"):
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child", mode], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {mode}, round {round_} | {r['median']:.2f} | {r['p99']:.2f} | {r['longest']:.2f} | {r['gc']:.3f} | "
                  f"{'/'.join(map(str, r['collections']))} | {r['frozen']:,} |")  # fmt: skip


if __name__ == "__main__":
    main()
