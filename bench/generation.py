"""Benchmark of generation at volume (not a test): prints Markdown tables.

A fake fal on loopback (jobs/tests/fakes/fal.py, on its wall clock) takes T
seconds per request and runs at most C at once (the rest wait in its queue, as
fal's account limit does). One pipeline of N outputs on a fal model runs through
real Celery workers: --processes generation worker processes (prefork), the
control worker (poller, dispatcher, sweepers) and beat, with production's
leases, sweeps and poll period, the broker a private redis-server (no
persistence) so it can be restarted.

  (a) clean run: wall time against the provider-bound floor N x T / C, peak RSS
      of the worker processes, submissions the fake received, peak requests
      running at once at the fake;
  (b) the same with faults: the generation worker killed (SIGKILL, process
      group) twice and restarted 2 s later, and the broker Redis restarted
      without persistence once. Submissions must still equal planned outputs;
  (c) creating the largest pipeline (4 sources x 500 prompts = 2,000 steps)
      through POST /api/pipelines on granian (i2v/web.py), --creations times: p50 and p95,
      and what an unrelated GET /login/ waited meanwhile.

Runs on PostgreSQL in a database of its own (created, dropped at the end).
Every wait is bounded by --max-wait.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/i2v_bench_gen \\
       python bench/generation.py [--requests 1000] [--seconds 20] [--concurrency 40] [--processes 2]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

from processing import PROTECTED_DATABASES, drop_database, ensure_database  # noqa: E402


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0, help="T: each request's time at the provider")
    parser.add_argument("--concurrency", type=int, default=40, help="C: the provider's account limit")
    parser.add_argument("--processes", type=int, default=2, help="generation worker processes")
    parser.add_argument(
        "--in-flight", type=int, help="GENERATION_CONCURRENCY_FAL: requests kept at the provider, running or in its "
        "queue (default: C, the account limit; C plus a quarter keeps the next ones waiting in the provider's queue)",
    )  # fmt: skip
    parser.add_argument("--max-wait", type=int, default=1800)
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--creations", type=int, default=20, help="2,000-step pipelines created in (c)")
    parser.add_argument("--only-creations", action="store_true", help="(c) alone")
    args = parser.parse_args()
    args.in_flight = args.in_flight or args.concurrency
    return args


def prepare_database():
    """A fresh database of the bench's own (bench/processing.py's helpers); its URL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or url.rsplit("/", 1)[-1] in PROTECTED_DATABASES:
        sys.exit("Set DATABASE_URL to a PostgreSQL database of the bench's own (it is dropped at the end).")
    drop_database(url)
    ensure_database(url)
    return url


class Sampler(threading.Thread):
    """Peak resident memory of the worker processes (each process, summed per worker), read from /proc."""

    def __init__(self, cluster, names):
        super().__init__(daemon=True)
        self.cluster, self.names = cluster, names
        self.peak_process = 0
        self.peak_total = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(1):
            pids = []
            for process in self.cluster.started:
                if process.name.split("-")[0] in self.names and process.poll() is None:
                    pids += [process.pid, *_children(process.pid)]
            sizes = [_rss(pid) for pid in pids]
            if sizes:
                self.peak_process = max(self.peak_process, max(sizes))
                self.peak_total = max(self.peak_total, sum(sizes))


def _children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(args, faults):
    """One pipeline of args.requests outputs, start to finish; a dict of figures."""
    from django.core.management import call_command

    from i2v.testing.workers import Cluster, PrivateRedis, celery_app, free_port
    from jobs.models import Pipeline
    from jobs.tests.fakes.fal import FakeFal

    call_command("flush", "--noinput", verbosity=0)
    redis_server = PrivateRedis(free_port())
    redis_server.start()
    celery_app(redis_server.url)
    tmp = Path(tempfile.mkdtemp(prefix="i2v-bench-gen-"))
    cluster = Cluster(tmp, broker=redis_server.url, timings={})
    figures = {}
    with FakeFal(seconds=args.seconds, concurrency=args.concurrency) as fal:
        env = {
            "FAL_KEY": "fake-key", "FAL_QUEUE_URL": fal.url, "GENERATION_CONCURRENCY_FAL": str(args.in_flight),
            "REDIS_URL": "",
        }  # fmt: skip
        from django.conf import settings

        settings.FAL_KEY, settings.FAL_QUEUE_URL = "fake-key", fal.url
        settings.GENERATION_CONCURRENCY = {**settings.GENERATION_CONCURRENCY, "fal": args.in_flight}
        try:
            workers = [cluster.worker("generation", queues="generation", concurrency=args.processes, **env)]
            cluster.control(**env)
            time.sleep(4)  # the workers connect before the clock starts
            owner = _owner()
            pipeline = Pipeline.objects.create_from_request(owner, _request(owner, args.requests))
            started = time.monotonic()
            sampler = Sampler(cluster, {"generation"})
            sampler.start()
            plan = _faults(args) if faults else []
            deadline = started + args.max_wait
            done = 0
            while time.monotonic() < deadline:
                elapsed = time.monotonic() - started
                while plan and plan[0][0] <= elapsed:
                    _, what = plan.pop(0)
                    workers = _inject(what, cluster, workers, redis_server, env, args)
                done = pipeline.steps.filter(status="completed").count()
                settled = pipeline.steps.exclude(status__in=("queued", "running", "waiting")).count()
                if settled == args.requests:
                    break
                time.sleep(1)
            wall = time.monotonic() - started
            sampler.stop.set()
            pipeline.refresh_from_db()
            figures = {
                "wall": wall, "floor": args.requests * args.seconds / args.concurrency, "done": done,
                "failed": pipeline.steps.filter(status__in=("failed", "unknown")).count(),
                "submissions": fal.submissions, "peak_running": fal.peak_running(),
                # Every step sends a different (source, prompt): a payload seen twice is a duplicate.
                "distinct": len({json.dumps(r.payload, sort_keys=True) for r in list(fal.requests.values())}),
                "rss_process": sampler.peak_process, "rss_total": sampler.peak_total,
                "requests_rows": pipeline.requests.count(), "stored": pipeline.requests.filter(state="stored").count(),
                "cost": pipeline.total_cost,
                "errors": sorted({e for e in pipeline.steps.exclude(error="").values_list("error", flat=True)})[:3],
            }  # fmt: skip
        finally:
            cluster.stop_all()
            redis_server.stop()
    return figures


def _faults(args):
    """(seconds after the start, fault): two worker kills and a broker restart, spread over the run."""
    floor = args.requests * args.seconds / args.concurrency
    return [(floor * 0.2, "kill"), (floor * 0.45, "redis"), (floor * 0.7, "kill")]


def _inject(what, cluster, workers, redis_server, env, args):
    print(f"  fault: {what} at {time.strftime('%H:%M:%S')}", file=sys.stderr)
    if what == "kill":
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
        time.sleep(2)  # a supervisor (compose's restart policy) brings it back
        return [cluster.worker(f"generation-{len(cluster.started)}", queues="generation", concurrency=args.processes, **env)]
    redis_server.stop()
    redis_server.start()
    return workers


def _owner():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("bench-generation")


def _request(owner, outputs):
    """A pipeline of `outputs` images on a fal model: sources x prompts."""
    from jobs.tests.conftest import make_source

    sources = [make_source(owner) for _ in range(10)]
    prompts = [f"a red fox, take {n}" for n in range((outputs + 9) // 10)]
    stage = {"model": "flux-kontext", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard", "negative_prompt": ""}
    request = {"name": "bench", "sources": [s.pk for s in sources], "prompts": prompts, "i2i": stage, "i2v": None}
    if len(sources) * len(prompts) != outputs:
        sys.exit("--requests must be a multiple of 10")
    return request


def creations(args):
    """(c): creation latency of 2,000-step pipelines, and of an unrelated page meanwhile."""
    import httpx
    from django.core.management import call_command

    from i2v.models import ApiToken
    from i2v.testing.workers import Cluster, PrivateRedis, celery_app, free_port

    call_command("flush", "--noinput", verbosity=0)
    redis_server = PrivateRedis(free_port())
    redis_server.start()
    celery_app(redis_server.url)
    tmp = Path(tempfile.mkdtemp(prefix="i2v-bench-create-"))
    cluster = Cluster(tmp, broker=redis_server.url, timings={})
    from django.conf import settings

    try:
        call_command("collectstatic", "--noinput", verbosity=0)
        owner = _owner()
        owner.is_staff = True
        owner.save()
        token = ApiToken.issue(owner)
        from jobs.tests.conftest import make_source

        sources = [make_source(owner).pk for _ in range(4)]
        base = cluster.web(
            RATE_LIMITS="0", GENERATION_MAX_STEPS_IN_FLIGHT="1000000", REDIS_URL="", STATIC_ROOT=str(settings.STATIC_ROOT),
        )  # fmt: skip
        body = {
            "name": "big", "sources": sources, "prompts": [f"prompt number {n}" for n in range(500)],
            "i2i_enabled": True, "i2i_model": "local-i2i", "images_per_prompt": 1,
        }  # fmt: skip
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        api.post("/api/pipelines", json=body).raise_for_status()  # warm up
        side, stop = [], threading.Event()

        def visitor():
            with httpx.Client(base_url=base, timeout=60) as web:
                while not stop.is_set():
                    started = time.perf_counter()
                    web.get("/login/")
                    side.append(time.perf_counter() - started)
                    time.sleep(0.1)

        thread = threading.Thread(target=visitor, daemon=True)
        thread.start()
        times = []
        for _ in range(args.creations):
            started = time.perf_counter()
            response = api.post("/api/pipelines", json=body)
            times.append(time.perf_counter() - started)
            assert response.status_code == 202, response.text
        stop.set()
        thread.join()
        from jobs.models import Pipeline

        made = []
        while Pipeline.objects.filter(owner=owner, expanding=True).exists():  # what the dispatcher then does
            started = time.perf_counter()
            Pipeline.objects.expand_due(limit=1)
            made.append(time.perf_counter() - started)
        steps = Pipeline.objects.filter(owner=owner).latest("id").steps.count()
        return {"times": times, "side": side, "steps": steps, "made": made}
    finally:
        cluster.stop_all()
        redis_server.stop()


def _percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def creation_table(f):
    print("\n### Creating 2,000-step pipelines (POST /api/pipelines, granian 1 worker x 4 threads)\n")
    print("| what | p50 | p95 | max |")
    print("| --- | --- | --- | --- |")
    t, s = f["times"], f["side"]
    print(f"| POST /api/pipelines, {f['steps']:,} steps, {len(t)} times | {_percentile(t, .5) * 1000:.0f} ms | {_percentile(t, .95) * 1000:.0f} ms | {max(t) * 1000:.0f} ms |")
    print(f"| GET /login/ meanwhile, {len(s)} requests | {_percentile(s, .5) * 1000:.0f} ms | {_percentile(s, .95) * 1000:.0f} ms | {max(s) * 1000:.0f} ms |")
    m = f["made"]
    print(f"| the dispatcher making each one's steps, {len(m)} times | {_percentile(m, .5) * 1000:.0f} ms | {_percentile(m, .95) * 1000:.0f} ms | {max(m) * 1000:.0f} ms |")


def table(label, f, args):
    mb = 1024 * 1024
    print(f"\n### {label}\n")
    print("| what | figure |")
    print("| --- | --- |")
    print(f"| outputs planned / completed / failed or unknown | {args.requests} / {f['done']} / {f['failed']} |")
    print(f"| wall time | {f['wall']:.0f} s |")
    print(f"| provider-bound floor (N x T / C) | {f['floor']:.0f} s |")
    print(f"| wall / floor | {f['wall'] / f['floor']:.3f}x |")
    print(f"| submissions received by the fake provider | {f['submissions']} |")
    print(f"| duplicate submissions (the same step's payload sent twice) | {f['submissions'] - f['distinct']} |")
    print(f"| steps never received by the provider | {args.requests - f['distinct']} |")
    print(f"| peak requests running at once at the provider | {f['peak_running']} (limit {args.concurrency}) |")
    print(f"| remote-request rows / stored | {f['requests_rows']} / {f['stored']} |")
    print(f"| recorded cost | ${f['cost']} |")
    print(f"| peak RSS, largest worker process | {f['rss_process'] / mb:.0f} MB |")
    print(f"| peak RSS, all {args.processes + 1} generation worker processes | {f['rss_total'] / mb:.0f} MB |")
    for error in f["errors"]:
        print(f"| an error | {error[:200]} |")


def main():
    args = parse()
    url = prepare_database()
    # One media folder for this process and every process it starts (the storage keeps the
    # folder it first saw, so it is set before Django starts).
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="i2v-bench-gen-media-")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        print(
            f"bench/generation.py: {args.requests} requests of {args.seconds:g} s, provider limit {args.concurrency}, "
            f"{args.in_flight} kept in flight, "
            f"{args.processes} generation worker processes, {time.strftime('%Y-%m-%d')}"
        )
        creation_table(creations(args))
        if args.only_creations:
            return
        clean = run(args, faults=False)
        table("Clean run", clean, args)
        if not args.skip_faults:
            faulty = run(args, faults=True)
            table("With 2 worker kills and a broker restart without persistence", faulty, args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()
