"""Benchmark of the hot paths (not a test): bounded pipeline detail, and what a list request costs
gunicorn in CPU, cached and not (the Jobs list, its API, the Library's first page and its API). Prints
Markdown tables.

Uses an owner that already has pipelines (seed them with seed_demo, or copy the 1M database),
adds a 5-step and a 2,000-step pipeline once (reused after), and serves the app with gunicorn on
loopback: twice with 1 worker and 1 thread (list cache off, then on) for the per-request figures,
then with production's server (i2v/web.py: granian) for wrk.

- server time and queries: the Server-Timing header (app;dur, db;dur and its query count);
- gunicorn CPU per request: utime+stime of the worker process, from /proc/<pid>/stat, before and
  after N requests, divided by N (the client runs in this process, not in the worker);
- the server's floor: the same CPU per request for a static file WhiteNoise answers, before any session,
  cache or query (what gunicorn and Django's handler cost on this machine, whatever the app does);
- every request sends a script's API token, and the cached Jobs and Library fragments are asked for once
  more with a browser's session cookie (a cached hit reads the session with its user and list);
- wrk: --connections connections, 2 threads, on the cached first page of the Jobs list (the HTMX
  results fragment, as filters and infinite scroll ask for it) and of GET /api/pipelines.

--servers gunicorn,granian runs only a side-by-side comparison of app servers on those two cached pages
(issue 10: "try another WSGI server only if measured better side by side"): --rounds rounds, the servers'
order rotating each round, each server started fresh with --wrk-workers workers; per server and page, the CPU
per request of --requests requests one at a time, then wrk with the CPU it cost the server per request
answered. CPU is summed over the server's whole process tree (master and workers; /proc/<pid>/stat counts all
of a process's threads, and the master's cutime+cstime the workers it reaped, as gunicorn's max_requests
replaces them). A server is a name with options for its command line after a colon, joined by "+":
granian:blocking-threads=4+backpressure=16 adds `--blocking-threads 4 --backpressure 16`; for gunicorn,
gunicorn:max-requests=0 overrides gunicorn.conf.py; "web" is production's own launcher (python -m i2v.web, granian),
its options WEB_* variables (web:threads=8 sets WEB_THREADS=8). Medians per server, and ratios to the first.

Usage: DATABASE_URL=postgres://.../i2v_x REDIS_URL=redis://127.0.0.1:6379/N \
       python bench/hot_paths.py [--owner bench] [--requests 500] [--wrk-seconds 10] [--connections 256]
       python bench/hot_paths.py --servers gunicorn,granian [--rounds 3] [--requests 300] [--wrk-seconds 10]
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
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

TIMING = re.compile(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"')
TICK = os.sysconf("SC_CLK_TCK")


def fixtures(owner):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from conftest import make_big_pipeline, make_pipeline

    user = get_user_model().objects.get(username=owner)
    if not user.is_staff:  # Server-Timing is sent to staff only
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    small = user.pipelines.filter(name="bench: 5 steps").first() or make_pipeline(user, name="bench: 5 steps", steps=5, outputs=5)
    big = user.pipelines.filter(name="bench: 2,000 steps").first() or make_big_pipeline(
        user, images=1000, videos=1000, failed=0, outputs=2000, name="bench: 2,000 steps"
    )
    from list_cache import session_cookie

    # Each request authenticates with one header: a script's token, or a browser's session cookie.
    token, session = token_header(user), ("Cookie", session_cookie(user))
    total = user.pipelines.count()
    connection.close()
    return token, session, small.id, big.id, total


def heap_fetches(pipeline_id):
    """Rows the pipeline's step summary reads beyond its index (an index-only scan reads the row of each
    entry on a page the visibility map doesn't call all-visible yet): the detail's figures depend on it.
    Autovacuum sets those pages soon after a table's writes (jobs migration 0020)."""
    from django.db import connection

    with connection.cursor() as cursor:
        sql = "SELECT kind, status, count(*) FROM jobs_step WHERE pipeline_id = %s GROUP BY 1, 2"
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", [pipeline_id])
        plan = explained(cursor.fetchone()[0])
    connection.close()
    return fetches_in(plan)


def explained(output):
    """The top of EXPLAIN (FORMAT JSON)'s `output` (its Plan, Execution Time...), text or decoded."""
    import json

    return (json.loads(output) if isinstance(output, str) else output)[0]


def fetches_in(explain):
    """The heap fetches of every node of an EXPLAIN ANALYZE's plan (explained())."""
    found, stack = 0, [explain["Plan"]]
    while stack:
        node = stack.pop()
        found += node.get("Heap Fetches", 0)
        stack.extend(node.get("Plans", []))
    return found


def serve(port, list_cache, tree=ROOT):
    """gunicorn, 1 sync worker x 1 thread, for the per-request rows: the app's own cost, one request at a time.
    `tree`: the checkout served (bench/versions.py serves two), with its own virtualenv if it has one."""
    env = {**os.environ, "LIST_CACHE": "1" if list_cache else "0", "SERVER_TIMING": "1", "RATE_LIMITS": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    args = ["--config", str(tree / "bench" / "gunicorn_plain.py"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1", "--log-level", "warning"]
    python = tree / ".venv" / "bin" / "python" if tree != ROOT and (tree / ".venv").exists() else Path(sys.executable)
    return started(subprocess.Popen([str(python), "-m", "gunicorn", "i2v.wsgi", *args], cwd=tree, env=env), port, f"gunicorn in {tree}")


def started(proc, port, name, seconds=30):
    """`proc` once it answers /healthz on `port`; killed, and the script stopped, if it doesn't within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{name} did not start")


def serve_production(server, port, workers):
    """gunicorn with gunicorn.conf.py, or granian's WSGI server, as production would run it (access log off)."""
    name, _, options = server.partition(":")
    extra = []
    for option in filter(None, options.split("+")):
        key, _, value = option.partition("=")
        extra += [f"--{key}", value] if value else [f"--{key}"]
    env = {**os.environ, "LIST_CACHE": "1", "SERVER_TIMING": "1", "RATE_LIMITS": "0", "ALLOWED_HOSTS": "127.0.0.1",
           "LOG_LEVEL": "WARNING", "GUNICORN_WORKERS": str(workers), "GUNICORN_ACCESS_LOG": ""}  # fmt: skip
    if name == "gunicorn":
        cmd = [sys.executable, "-m", "gunicorn", "i2v.wsgi", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", *extra]
    elif name == "web":  # production's launcher, i2v/web.py; options are its WEB_* variables: web:threads=8
        env.update({"WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": str(workers), "WEB_ACCESS_LOG": "0"})
        env.update({f"WEB_{key.upper().replace('-', '_')}": value for key, _, value in (o.partition("=") for o in filter(None, options.split("+")))})
        cmd = [sys.executable, "-m", "i2v.web"]
    elif name == "granian":
        cmd = [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning", *extra, "i2v.wsgi:application"]  # fmt: skip
    else:
        raise SystemExit(f"unknown server {name!r}")
    return started(subprocess.Popen(cmd, cwd=ROOT, env=env), port, server)


def tree_cpu_seconds(root):
    """CPU of a process, of its live descendants and of the children it reaped."""
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile: its CPU is now in its parent's cutime
        total += (int(fields[11]) + int(fields[12])) / TICK
        if pid == root:
            total += (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime
        stack += children
    return total


def compare_servers(args, token):
    servers = args.servers.split(",")
    pages = (("Jobs first page (HTMX)", "/jobs/", True), ("GET /api/pipelines", "/api/pipelines", False))
    results = {(server, label): [] for server in servers for label, _, _ in pages}
    port = 8874
    for round_ in range(args.rounds):
        shift = round_ % len(servers)
        for server in servers[shift:] + servers[:shift]:
            proc = serve_production(server, port, args.wrk_workers)
            try:
                for label, path, htmx in pages:
                    for _ in range(20):  # every worker's first requests load templates, open connections
                        fetch(port, path, token, htmx)
                    before = tree_cpu_seconds(proc.pid)
                    for _ in range(args.requests):
                        fetch(port, path, token, htmx)
                    cpu = (tree_cpu_seconds(proc.pid) - before) * 1000 / args.requests
                    before = tree_cpu_seconds(proc.pid)
                    rate, failed, latency, answered = wrk(port, path, token, args.wrk_seconds, args.connections, htmx)
                    load_cpu = (tree_cpu_seconds(proc.pid) - before) * 1000 / max(answered, 1)
                    row = {"cpu": cpu, "rate": rate, "failed": failed, "latency": latency, "load_cpu": load_cpu, "load": os.getloadavg()[0]}
                    results[(server, label)].append(row)
                    print(f"round {round_ + 1} {server} {label}: {cpu:.2f} ms CPU one at a time; wrk {rate:,.0f}/s, "
                          f"{failed} errors, {latency}, {load_cpu:.2f} ms CPU per request; load {row['load']:.1f}", flush=True)  # fmt: skip
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            port += 1  # a fresh port each time: no TIME_WAIT or lingering listener in the way

    print(f"\n{args.rounds} rounds, servers alternating, {args.wrk_workers} workers each, list cache on; CPU one at a time: "
          f"{args.requests} requests after 20 warm-ups; wrk -t2 -c{args.connections} -d{args.wrk_seconds}s; medians; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")  # fmt: skip
    print("| page | server | CPU ms/request, one at a time | wrk requests/s | errors (all rounds) | CPU ms/request under wrk | mean latency |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for label, _, _ in pages:
        for server in servers:
            rows = results[(server, label)]
            print(f"| {label} | {server} | {statistics.median(r['cpu'] for r in rows):.2f} | {statistics.median(r['rate'] for r in rows):,.0f} | "
                  f"{sum(r['failed'] for r in rows)} | {statistics.median(r['load_cpu'] for r in rows):.2f} | {', '.join(r['latency'] for r in rows)} |")  # fmt: skip
    base = servers[0]
    print(f"\nRatios to {base}, each round's pair compared, then the median (CPU: lower is better; requests/s: higher is better):\n")
    for label, _, _ in pages:
        for server in servers[1:]:
            pairs = list(zip(results[(base, label)], results[(server, label)]))
            cpu = statistics.median(b["cpu"] / a["cpu"] for a, b in pairs)
            rate = statistics.median(b["rate"] / a["rate"] for a, b in pairs)
            load_cpu = statistics.median(b["load_cpu"] / a["load_cpu"] for a, b in pairs)
            print(f"- {label}, {server} / {base}: CPU one at a time {cpu:.2f}x, requests/s {rate:.2f}x, CPU under wrk {load_cpu:.2f}x")


def worker_pid(master):
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def token_header(user):
    """A script's credential for fetch(): the Authorization header of a new API token of `user`."""
    from i2v.models import ApiToken

    return "Authorization", f"Bearer {ApiToken.issue(user)}"


def fetch(port, path, credential, htmx):
    headers = dict([credential])
    if htmx:
        headers["HX-Request"] = "true"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        assert response.status == 200, (path, response.status)
        timing = TIMING.search(response.headers["Server-Timing"])
    return float(timing.group(1)), float(timing.group(2)), int(timing.group(3)), len(body)


def measure(port, pid, path, credential, runs, htmx):
    for _ in range(5):
        fetch(port, path, credential, htmx)
    before = cpu_seconds(pid)
    samples = [fetch(port, path, credential, htmx) for _ in range(runs)]
    cpu_ms = (cpu_seconds(pid) - before) * 1000 / runs
    return {
        "app": statistics.median(s[0] for s in samples),
        "db": statistics.median(s[1] for s in samples),
        "queries": max(s[2] for s in samples),
        "bytes": samples[-1][3],
        "cpu": cpu_ms,
    }


def floor_cpu(port, pid, runs):
    """gunicorn CPU per request for a static file, which WhiteNoise answers before any middleware
    reads a session, the cache or the database: what serving a request costs before the app's work."""
    url = f"http://127.0.0.1:{port}/static/favicon.svg"
    for _ in range(5):
        urllib.request.urlopen(url, timeout=30).read()
    before = cpu_seconds(pid)
    for _ in range(runs):
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
    return (cpu_seconds(pid) - before) * 1000 / runs


def wrk(port, path, credential, seconds, connections, htmx):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", ": ".join(credential)]
    if htmx:
        args += ["-H", "HX-Request: true"]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(map(int, errors.groups())) if errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    answered = int(re.search(r"(\d+) requests in", out).group(1))
    return rate, failed, latency, answered


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--wrk-workers", type=int, default=2)
    parser.add_argument("--servers", help="compare app servers side by side, e.g. gunicorn,granian (only that)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the budgets are for that stack.")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
    token, session, small, big, total = fixtures(args.owner)
    if args.servers:
        print(f"{total:,} pipelines for one owner; load average {os.getloadavg()[0]:.1f} at the start")
        compare_servers(args, token)
        return

    fetched = heap_fetches(big)
    uncached, cached = 8871, 8872
    servers = {port: serve(port, list_cache=port == cached) for port in (uncached, cached)}
    pids = {port: worker_pid(proc.pid) for port, proc in servers.items()}
    rows = [
        ("expand a 5-step pipeline (HTMX)", uncached, f"/jobs/{small}/", True, token),
        ("expand a 2,000-step pipeline (HTMX)", uncached, f"/jobs/{big}/", True, token),
        ("detail page, 5 steps", uncached, f"/jobs/{small}/", False, token),
        ("detail page, 2,000 steps", uncached, f"/jobs/{big}/", False, token),
        ("GET /api/pipelines/<id>, 5 steps", uncached, f"/api/pipelines/{small}", False, token),
        ("GET /api/pipelines/<id>, 2,000 steps", uncached, f"/api/pipelines/{big}", False, token),
        ("Jobs list first page (20 rows, HTMX), uncached", uncached, "/jobs/", True, token),
        ("same, cached", cached, "/jobs/", True, token),
        ("same, cached, a session's (a browser's)", cached, "/jobs/", True, session),
        ("GET /api/pipelines (50 items), uncached", uncached, "/api/pipelines", False, token),
        ("same, cached", cached, "/api/pipelines", False, token),
        ("Library first page (60 tiles, HTMX), uncached", uncached, "/library/", True, token),
        ("same, cached", cached, "/library/", True, token),
        ("same, cached, a session's (a browser's)", cached, "/library/", True, session),
        ("GET /api/library/images (50 items), uncached", uncached, "/api/library/images", False, token),
    ]
    results = []
    try:
        for label, port, path, htmx, credential in rows:
            results.append((label, measure(port, pids[port], path, credential, args.requests, htmx)))
        floor = floor_cpu(cached, pids[cached], args.requests)
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()

    print(f"\n{total:,} pipelines for one owner; {args.requests} requests per row after 5 warm-ups, one at a time; "
          f"gunicorn 1 worker x 1 thread; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")  # fmt: skip
    print(f"The 2,000-step pipeline's step summary read {fetched:,} rows beyond its index (0: all its pages all-visible).\n")
    print("| what | server p50 ms | SQL p50 ms | queries | gunicorn CPU ms/request | CPU / SQL | bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, r in results:
        ratio = f"{r['cpu'] / r['db']:.1f}x" if r["db"] >= 0.05 else "-"
        print(f"| {label} | {r['app']:.2f} | {r['db']:.2f} | {r['queries']} | {r['cpu']:.2f} | {ratio} | {r['bytes']:,} |")
    print(f"\nserver floor: {floor:.2f} ms of gunicorn CPU per request for a static file (WhiteNoise answers it before any "
          "session, cache or query), the part of every figure above that is the server's, not the app's")  # fmt: skip
    by = dict(results)
    for kind, a, b in (("expansion", "expand a 5-step pipeline (HTMX)", "expand a 2,000-step pipeline (HTMX)"),
                       ("detail page", "detail page, 5 steps", "detail page, 2,000 steps"),
                       ("API detail", "GET /api/pipelines/<id>, 5 steps", "GET /api/pipelines/<id>, 2,000 steps")):  # fmt: skip
        print(f"\n{kind}: 2,000 steps / 5 steps (server p50): {by[b]['app'] / by[a]['app']:.2f}x, {by[b]['bytes']:,} bytes")

    port = 8873
    proc = serve_production("web", port, args.wrk_workers)
    try:
        print(f"\nwrk -t2 -c{args.connections} -d{args.wrk_seconds}s, production's server (i2v/web.py, granian) with "
              f"{args.wrk_workers} workers, list cache on, after one warm request:\n")  # fmt: skip
        print("| what | requests/s | errors (socket + non-2xx) | mean latency |")
        print("| --- | ---: | ---: | ---: |")
        for label, path, htmx in (("Jobs list first page (HTMX), cached", "/jobs/", True), ("GET /api/pipelines, cached", "/api/pipelines", False)):
            fetch(port, path, token, htmx)
            rate, failed, latency, _ = wrk(port, path, token, args.wrk_seconds, args.connections, htmx)
            print(f"| {label} | {rate:,.0f} | {failed} | {latency} |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
