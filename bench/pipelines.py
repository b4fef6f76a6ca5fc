"""Benchmark of creating and running pipelines (not a test): prints Markdown tables.

Runs on PostgreSQL and Redis, in a database of its own (created when missing,
dropped at the end unless --keep-db) with media under a temporary VAR_DIR:

  (a) submit latency of POST /api/pipelines (2 sources x 3 prompts, both stages,
      local models) through gunicorn while a generation worker
      (-Q generation --concurrency 2) and a media worker
      (-Q thumbnails,variants,backfill --concurrency 1) chew earlier pipelines;
      client time and server time (the Server-Timing header), p50 and p95;
  (b) end to end: one --sources x --prompts pipeline on the local provider with the
      same workers, wall time until it is completed, steps/min, images/min and
      videos/min, and how long media processing took to catch up.

Every wait is bounded (--max-wait, at most 600 s); only the processes this script
starts are stopped.

Usage: DATABASE_URL=postgres://.../i2v_bench_pipe REDIS_URL=redis://127.0.0.1:6379/8 \
       python bench/pipelines.py [--submissions 50] [--sources 200] [--prompts 5] [--i2i-only]
"""

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

TIMING = re.compile(r"app;dur=([\d.]+), db;dur=([\d.]+);desc=\"(\d+) queries\"")
PROTECTED_DATABASES = {"i2v_bench", "i2v_dev", "i2v_ci", "test_i2v_ci", "postgres", "template0", "template1"}
MEDIA_QUEUES = ("thumbnails", "variants", "backfill")
GENERATION = "generation"
PORT = 8791
MAX_WAIT_CAP = 600
I2I = {"i2i_enabled": True, "i2i_model": "local-i2i", "images_per_prompt": 1, "quality": "standard"}
I2V = {"i2v_enabled": True, "i2v_model": "local-i2v", "videos_per_image": 1, "resolution": "480p", "duration": 2}
PROMPTS = ["a red fox in the snow", "a blue owl at dusk", "a green frog on a leaf", "a city street in rain",
           "a lighthouse at dawn", "a desert with cacti", "a bowl of ramen", "a sailing boat"]  # fmt: skip


# --- set-up ---------------------------------------------------------------------------------


def _admin_url(url):
    parts = urlsplit(url)
    return parts.path.lstrip("/"), urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))


def ensure_database(url):
    """Create the database of `url` when missing; True if this call created it."""
    import psycopg

    name, admin = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def drop_database(url):
    import psycopg

    name, admin = _admin_url(url)
    if name in PROTECTED_DATABASES:
        print(f"not dropping {name}: not this benchmark's database", file=sys.stderr)
        return
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def purge_queues():
    """Empty the generation and processing queues of the bench's Redis database."""
    from celery import current_app

    with current_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in (GENERATION, *MEDIA_QUEUES):
            channel.queue_declare(queue=queue)
            channel.queue_purge(queue)


def child_env():
    return {**os.environ, "SERVER_TIMING": "1", "RATE_LIMITS": "0", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}


def start_worker(logdir, name, queues, concurrency):
    log = Path(logdir) / f"{name}.log"
    log.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "i2v", "worker", "-Q", queues, "--concurrency", str(concurrency),
         "-n", f"{name}-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO", "-f", str(log)],
        cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop([proc])
            raise SystemExit(f"celery worker {name} did not start; see {log}")
        time.sleep(0.2)
    return proc


def start_workers(logdir):
    """The generation worker and the media worker the issue names."""
    generation = start_worker(logdir, "bench-generation", GENERATION, 2)
    try:
        media = start_worker(logdir, "bench-media", ",".join(MEDIA_QUEUES), 1)
    except SystemExit:
        stop([generation])
        raise
    return [generation, media]


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve():
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "i2v.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", "2",
         "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=child_env(),
    )  # fmt: skip
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/login/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    stop([proc])
    raise SystemExit("gunicorn did not start")


def make_sources(owner, count):
    """`count` distinct 640x480 library images, originals in storage, renditions done."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image, ImageDraw

    from library.models import Asset, original_path
    from media_processing.renditions import render_image

    made = []
    for n in range(count):
        image = Image.new("RGB", (640, 480), ((n * 37) % 256, (n * 91) % 256, 160))
        draw = ImageDraw.Draw(image)
        draw.ellipse((40 + n % 200, 60, 400 + n % 200, 420), fill=(240, (n * 13) % 256, 40))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        name = default_storage.save(original_path(Asset(sha256=sha), "source.jpg"), ContentFile(data))
        asset = Asset.objects.create(
            owner=owner, kind="image", source="upload", sha256=sha, original=name, mime="image/jpeg",
            filename=f"source-{n}.jpg", width=640, height=480, bytes=len(data), processing_status="complete",
        )  # fmt: skip
        asset.save(update_fields=render_image(asset))
        made.append(asset.pk)
    return made


# --- requests -------------------------------------------------------------------------------


def submit(token, sources, prompts, i2i=True, i2v=True, name="bench"):
    """POST /api/pipelines; (pipeline id, client ms, server ms, queries)."""
    body = {"name": name, "sources": sources, "prompts": prompts, "mode": "auto", **(I2I if i2i else {}), **(I2V if i2v else {})}
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/pipelines", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
            client = (time.perf_counter() - start) * 1000
            timing = TIMING.search(response.headers.get("Server-Timing", ""))
            status = response.status
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"POST /api/pipelines answered {exc.code}: {exc.read()[:500]!r}") from None
    if status != 202 or not timing:
        raise SystemExit(f"POST /api/pipelines answered {status} (Server-Timing: {bool(timing)})")
    return payload["id"], client, float(timing.group(1)), int(timing.group(3))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def generation_backlog():
    from jobs.models import Step

    return Step.objects.filter(status__in=(Step.Status.QUEUED, Step.Status.RUNNING)).count()


def processing_backlog():
    from media_processing.models import ProcessingJob

    return ProcessingJob.objects.filter(status__in=ProcessingJob.ACTIVE).count()


# --- (a) submit latency ---------------------------------------------------------------------


def latency_table(token, sources, submissions, busy_sources, max_wait):
    """Busy the workers with earlier pipelines, then time `submissions` 2 x 3 submissions."""
    busy = [submit(token, sources[:busy_sources], PROMPTS[:5], name="bench: busy")[0] for _ in range(2)]
    deadline = time.monotonic() + min(max_wait, 60)
    while processing_backlog() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)  # until the media worker has work too
    for n in range(3):  # warm-ups, not counted: each gunicorn worker's first request loads the app
        submit(token, sources[:2], PROMPTS[:3], name=f"bench: warm-up {n}")
    before = (generation_backlog(), processing_backlog())
    samples = []
    for n in range(submissions):
        pair = [sources[(2 * n) % len(sources)], sources[(2 * n + 1) % len(sources)]]
        samples.append(submit(token, pair, PROMPTS[:3], name=f"bench: submit {n}"))
        time.sleep(0.05)
    after = (generation_backlog(), processing_backlog())
    return {"busy": busy, "samples": samples, "before": before, "after": after}


def stop_everything(owner, max_wait):
    """Cancel every pipeline of `owner`, empty the queues and wait for the running steps to stop."""
    from jobs.models import Step
    from media_processing.models import ProcessingJob

    for pipeline in owner.pipelines.filter(status__in=("running", "pending", "paused")):
        pipeline.cancel()
    purge_queues()
    # The earlier pipelines' waiting renditions are dropped: this database is the bench's own.
    ProcessingJob.objects.filter(status=ProcessingJob.Status.QUEUED).delete()
    deadline = time.monotonic() + min(max_wait, 120)
    while time.monotonic() < deadline:
        running = Step.objects.filter(status=Step.Status.RUNNING).count()
        jobs = ProcessingJob.objects.filter(status=ProcessingJob.Status.PROCESSING).count()
        if not running and not jobs:
            return
        time.sleep(0.5)
    print("warning: work still running after the cancel", file=sys.stderr)


# --- (b) end to end -------------------------------------------------------------------------


def end_to_end(token, sources, prompts, i2i_only, max_wait):
    from django.db.models import Count

    from jobs.models import Pipeline, Step

    start = time.monotonic()
    pipeline_id = submit(token, sources, PROMPTS[:prompts] if prompts <= len(PROMPTS) else [f"prompt {n}" for n in range(prompts)],
                         i2v=not i2i_only, name="bench: end to end")[0]  # fmt: skip
    deadline = start + max_wait
    i2i_done = None
    status = "running"
    while time.monotonic() < deadline:
        pipeline = Pipeline.objects.only("status").get(pk=pipeline_id)
        status = pipeline.status
        if i2i_done is None and not pipeline.steps.filter(kind=Step.Kind.I2I).exclude(status=Step.Status.COMPLETED).exists():
            i2i_done = time.monotonic() - start
        if status not in Pipeline.ACTIVE:
            break
        time.sleep(0.5)
    wall = time.monotonic() - start
    processed = None
    if status == "completed":
        while time.monotonic() < deadline:
            if processing_backlog() == 0:
                processed = time.monotonic() - start
                break
            time.sleep(0.5)
    pipeline = Pipeline.objects.get(pk=pipeline_id)
    steps = dict(pipeline.steps.order_by().values_list("kind").annotate(n=Count("id")))
    outputs = dict(pipeline.outputs.order_by().values_list("asset__kind").annotate(n=Count("id")))
    return {
        "id": pipeline_id, "status": pipeline.status, "wall": wall, "i2i_done": i2i_done, "processed": processed,
        "steps": steps, "done": pipeline.progress_done, "planned": pipeline.planned_steps, "outputs": outputs,
    }  # fmt: skip


# --- report ---------------------------------------------------------------------------------


def report(args, load_before, load_after, lat, e2e):
    client = [s[1] for s in lat["samples"]]
    server = [s[2] for s in lat["samples"]]
    queries = max(s[3] for s in lat["samples"])
    stages = "i2i only" if args.i2i_only else "i2i + i2v"
    print(f"\n`{' '.join(['python', 'bench/pipelines.py', *sys.argv[1:]])}` on PostgreSQL + Redis, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average before {load_before}, after {load_after}.\n")  # fmt: skip
    print(f"(a) {len(lat['samples'])} submissions of `POST /api/pipelines` (2 sources x 3 prompts, i2i + i2v, local models, "
          f"12 steps each), one after another after 3 warm-ups, through gunicorn (2 workers x 4 threads) while a generation worker "
          f"(concurrency 2) and a media worker (concurrency 1) ran {len(lat['busy'])} earlier {args.busy_sources} x 5 pipelines; "
          f"backlog before: {lat['before'][0]:,} steps queued/running, {lat['before'][1]:,} processing jobs; "
          f"after: {lat['after'][0]:,} and {lat['after'][1]:,}.\n")  # fmt: skip
    print("| submit latency | p50 ms | p95 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| server (Server-Timing app) | {statistics.median(server):.2f} | {percentile(server, 95):.2f} | {max(server):.2f} |")
    print(f"| client (loopback round trip) | {statistics.median(client):.2f} | {percentile(client, 95):.2f} | {max(client):.2f} |")
    print(f"\nSQL queries per submission: at most {queries}.\n")
    steps, outputs = e2e["steps"], e2e["outputs"]
    total_steps = sum(steps.values())
    minutes = e2e["wall"] / 60
    images, videos = outputs.get("image", 0), outputs.get("video", 0)
    print(f"(b) one {args.sources} x {args.prompts} pipeline ({stages}; images_per_prompt 1"
          f"{', videos_per_image 1, 480p, 2 s' if not args.i2i_only else ''}) on the local provider, same two workers, "
          f"started idle (earlier pipelines cancelled, queues emptied); bounded at {args.max_wait} s.\n")  # fmt: skip
    print("| what | value |")
    print("| --- | ---: |")
    print(f"| final status | {e2e['status']} ({e2e['done']:,} of {e2e['planned']:,} steps) |")
    print(f"| steps | {steps.get('i2i', 0):,} i2i + {steps.get('i2v', 0):,} i2v |")
    print(f"| wall time, submit to completed | {e2e['wall']:.1f} s |")
    if e2e["i2i_done"] is not None:
        print(f"| of which the i2i stage | {e2e['i2i_done']:.1f} s |")
    print(f"| throughput | {total_steps / minutes:,.0f} steps/min |")
    during = f"; {images / (e2e['i2i_done'] / 60):,.0f}/min during the i2i stage" if e2e["i2i_done"] else ""
    print(f"| images | {images:,} ({images / minutes:,.0f} images/min over the run{during}) |")
    if videos:
        print(f"| videos | {videos:,} ({videos / minutes:,.0f} videos/min over the run) |")
    processed = f"{e2e['processed']:.1f} s" if e2e["processed"] is not None else f"not within {args.max_wait} s"
    print(f"| media processing caught up (thumbnails, posters) | {processed} after submit |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--busy-sources", type=int, default=20, help="sources of each of the 2 pipelines that keep the workers busy")
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--i2i-only", action="store_true", help="end to end without the video stage")
    parser.add_argument("--max-wait", type=int, default=MAX_WAIT_CAP, help=f"seconds to wait for the run (at most {MAX_WAIT_CAP})")
    parser.add_argument("--keep-db", action="store_true", help="keep a database this run created")
    args = parser.parse_args()
    args.max_wait = max(10, min(args.max_wait, MAX_WAIT_CAP))
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the figures are for that stack.")
    if urlsplit(url).path.lstrip("/") in PROTECTED_DATABASES:
        raise SystemExit("Give this benchmark its own database (e.g. .../i2v_bench_pipe): it writes and deletes rows.")
    own_var = "VAR_DIR" not in os.environ
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="i2v-bench-pipe-"))
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    created = ensure_database(url)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"VAR_DIR={os.environ['VAR_DIR']}; database {'created' if created else 'exists'}; load {load_before}", file=sys.stderr)
    procs = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        from i2v.models import ApiToken

        purge_queues()
        owner = get_user_model().objects.create_user(f"bench-pipe-{uuid.uuid4().hex[:6]}", is_staff=True)  # staff get Server-Timing
        token = ApiToken.issue(owner)
        print(f"making {max(args.sources, args.busy_sources, 2)} source images", file=sys.stderr)
        sources = make_sources(owner, max(args.sources, args.busy_sources, 2))
        procs.append(serve())
        procs += start_workers(tempfile.mkdtemp(prefix="i2v-bench-workers-", dir=os.environ["VAR_DIR"]))
        print(f"(a) {args.submissions} submissions while busy", file=sys.stderr)
        lat = latency_table(token, sources, args.submissions, args.busy_sources, args.max_wait)
        stop_everything(owner, args.max_wait)
        print(f"(b) end to end, {args.sources} x {args.prompts}", file=sys.stderr)
        e2e = end_to_end(token, sources[: args.sources], args.prompts, args.i2i_only, args.max_wait)
        load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        stop_everything(owner, args.max_wait)
        report(args, load_before, load_after, lat, e2e)
    finally:
        stop(procs)
        try:
            purge_queues()
        except Exception as exc:  # noqa: BLE001 - the report matters more than the clean-up
            print(f"could not purge the queues: {exc}", file=sys.stderr)
        if created and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(url)
        if own_var:
            shutil.rmtree(os.environ["VAR_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
