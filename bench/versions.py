"""Two checkouts of the app side by side (not a test): what a list request costs each, measured in
one run, requests alternating, so that this machine's drift (its speed moves by half between
minutes) falls on both alike. Prints a Markdown table.

Each checkout is served by gunicorn as bench/hot_paths.py serves its per-request rows (1 sync
worker x 1 thread, the list cache off or on), on one database. For each path, --blocks blocks of
--per requests to each server in turn (the order flipping every block): the worker's CPU per
request over the block (utime+stime from /proc, the client runs in this process) and the SQL's
median (Server-Timing). Figures are the medians of the blocks, and the second checkout's ratio to
the first's.

Make the other checkout with `git worktree add ../base <commit>` and link this one's virtualenv
into it (`ln -s $PWD/.venv ../base/.venv`); run `manage.py collectstatic` in each.

Usage: DATABASE_URL=postgres://.../i2v_x REDIS_URL=redis://127.0.0.1:6379/N \\
       python bench/versions.py ../base . [--paths /library/,/api/library/images,/jobs/,/api/pipelines]
                                          [--owner bench] [--blocks 14] [--per 60] [--cached]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hot_paths import cpu_seconds, fetch, fixtures, serve, worker_pid  # noqa: E402

HTMX_PAGES = ("/library/", "/jobs/")  # asked for as infinite scroll and filters ask: the results fragment


def measure(servers, path, credential, blocks, per):
    """{tree: (CPU ms per request, SQL ms)} of `path`, medians of `blocks` blocks of `per` requests."""
    htmx = path in HTMX_PAGES
    cpu, sql, size = {t: [] for t in servers}, {t: [] for t in servers}, {}
    for port, _ in servers.values():
        for _ in range(10):
            fetch(port, path, credential, htmx)
    for block in range(blocks):
        for tree in list(servers)[:: 1 if block % 2 == 0 else -1]:
            port, pid = servers[tree]
            before = cpu_seconds(pid)
            samples = [fetch(port, path, credential, htmx) for _ in range(per)]
            cpu[tree].append((cpu_seconds(pid) - before) * 1000 / per)
            sql[tree].append(statistics.median(s[1] for s in samples))
            size[tree] = samples[-1][3]
    return {t: (statistics.median(cpu[t]), statistics.median(sql[t]), size[t]) for t in servers}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs=2, type=Path, help="the two checkouts: before, after")
    parser.add_argument("--paths", default="/library/,/api/library/images,/jobs/,/api/pipelines")
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--blocks", type=int, default=14)
    parser.add_argument("--per", type=int, default=60, help="requests per block (the CPU is read in ticks of 10 ms)")
    parser.add_argument("--cached", action="store_true", help="the list cache on (cached hits), not off")
    args = parser.parse_args()
    token = fixtures(args.owner)[0]
    trees = [t.resolve() for t in args.trees]
    procs, servers = [], {}
    try:
        for i, tree in enumerate(trees):
            port = 8890 + i
            procs.append(serve(port, args.cached, tree))
            servers[tree] = (port, worker_pid(procs[-1].pid))
        results = {path: measure(servers, path, token, args.blocks, args.per) for path in args.paths.split(",")}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    before, after = trees
    print(f"\n{args.blocks} blocks of {args.per} requests per path and checkout, alternating; list cache {'on' if args.cached else 'off'}\n")
    print("| path | CPU ms/request, before | after | after / before | SQL ms, before | after | CPU / SQL, before | after | bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path, by in results.items():
        (c0, s0, b0), (c1, s1, b1) = by[before], by[after]
        ratio = lambda c, s: f"{c / s:.2f}x" if s >= 0.05 else "-"  # noqa: E731
        # A block's CPU is read in clock ticks (10 ms): a cheap path may read none in a block.
        change = f"{c1 / c0:.2f}" if c0 else "-"
        print(f"| {path} | {c0:.2f} | {c1:.2f} | {change} | {s0:.2f} | {s1:.2f} | {ratio(c0, s0)} | {ratio(c1, s1)} | {b0:,} / {b1:,} |")


if __name__ == "__main__":
    main()
