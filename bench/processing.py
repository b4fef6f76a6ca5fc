"""Benchmark of uploads and media processing (not a test): prints Markdown tables.

Needs PostgreSQL and Redis on loopback, like bench/jobs_page.py. The database
named in DATABASE_URL is created when missing (and then dropped at the end,
unless --keep-db); media go to a VAR_DIR under /tmp, removed at the end. Measures:

  1. renditions per image, in process: render_image() (one decode, 600/300/150 px
     and the thumbhash) for a 1024x1024 PNG and a 12 MP JPEG, and the whole
     run_job() of the thumbnails and the variants job of each; the 150 px size;
  2. upload latency of a 5 MB JPEG (POST /api/library/images, bearer token)
     through gunicorn (2 workers) while 2 Celery workers chew a backlog:
     Server-Timing for the server, perf_counter for the client;
  3. throughput for a backlog of --backlog ~1024 px images on 2 worker
     processes (concurrency 1 each): thumbnails jobs go first (queue order),
     so the time until every thumbnails job completed gives "thumbnails only",
     the time until every job completed "with variants";
  4. peak RSS of the worker processes (and their pool children) during 3.

Usage: DATABASE_URL=postgres://.../i2v_bench_proc REDIS_URL=redis://127.0.0.1:6379/6 \\
       python bench/processing.py [--backlog 1000] [--uploads 60] [--runs 15]

  5. (--compare [RUNS], needs no database) Pillow against libvips for one original
     of 12 MP and of 100 MP, JPEG and PNG: time and peak RSS of each job, side by side.

       python bench/processing.py --compare 5
"""

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

TIMING = re.compile(r"app;dur=([\d.]+), db;dur=([\d.]+);desc=\"(\d+) queries\"")
PROTECTED_DATABASES = {"i2v_bench", "i2v_dev", "i2v_ci", "test_i2v_ci", "postgres", "template0", "template1"}
QUEUES = ("thumbnails", "variants", "backfill")
PORT = 8781


# --- set-up ---------------------------------------------------------------------------------


def ensure_database(url):
    """Create the database of `url` when missing; True if this call created it."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def drop_database(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name in PROTECTED_DATABASES:
        print(f"not dropping {name}: not this benchmark's database", file=sys.stderr)
        return
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def purge_broker():
    """Empty the three processing queues of the bench's Redis database (left-overs of an earlier run)."""
    from celery import current_app

    with current_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            channel.queue_declare(queue=queue)
            channel.queue_purge(queue)


def django_setup():
    import django

    django.setup()


# --- images ---------------------------------------------------------------------------------


def photo_like(width, height, seed, grain=28):
    """An RGB image with what makes photos expensive to encode: smooth gradients
    in every channel plus sensor-like noise (a flat image compresses to nothing)."""
    from PIL import Image, ImageChops, ImageFilter

    small = (max(8, width // 8), max(8, height // 8))
    red = Image.linear_gradient("L").resize(small).rotate(seed * 37 % 360)
    green = Image.radial_gradient("L").resize(small)
    blue = ImageChops.invert(Image.linear_gradient("L").resize(small).rotate(90 + seed * 11 % 360))
    base = Image.merge("RGB", (red, green, blue)).resize((width, height), Image.BILINEAR)
    # Coarse structure (blurred noise: "objects") and fine grain (sensor noise).
    blobs = Image.effect_noise((max(8, width // 32), max(8, height // 32)), 90).resize((width, height), Image.BICUBIC)
    blobs = blobs.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), grain)
    texture = Image.merge("RGB", (blobs, ImageChops.add(blobs, grain, 2, -64), grain))
    return Image.blend(base, texture, 0.35)


def encode(image, fmt, **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def five_mb_jpeg():
    """A 12 MP (4000x3000) JPEG of about 5 MB: the quality is raised until it gets there."""
    image = photo_like(4000, 3000, seed=7, grain=48)
    data = b""
    for quality in (90, 91, 92, 93, 94, 95, 96, 97):
        data = encode(image, "JPEG", quality=quality)
        if len(data) >= 4_900_000:
            break
    return data, quality


def distinct(jpeg, n):
    """The same JPEG with a COM segment holding `n` right after SOI: different
    bytes (so dedupe doesn't short-circuit the upload), same pixels, no re-encode."""
    text = f"i2v bench upload {n} {uuid.uuid4()}".encode()
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return jpeg[:2] + segment + jpeg[2:]


# --- 1. renditions in process ---------------------------------------------------------------


def make_asset(owner, data, ext, filename):
    import hashlib

    from django.core.files.base import ContentFile

    from library.models import Asset

    sha = hashlib.sha256(data).hexdigest()
    asset = Asset(owner=owner, kind="image", source="upload", filename=filename, sha256=sha, bytes=len(data),
                  mime=f"image/{'jpeg' if ext == 'jpg' else ext}")
    asset.original.save(f"upload.{ext}", ContentFile(data), save=False)
    asset.save()
    return asset


def forget_renditions(asset):
    """Delete the rendition files, so the next run writes them as a fresh upload does."""
    from django.core.files.storage import default_storage

    from library.models import Asset

    for entry in (asset.renditions or {}).values():
        if default_storage.exists(entry["name"]):
            default_storage.delete(entry["name"])
    asset.renditions = {}
    Asset.objects.filter(pk=asset.pk).update(renditions={})


def time_render(asset, runs):
    from media_processing.renditions import render_image

    times = []
    for _ in range(runs):
        forget_renditions(asset)
        start = time.perf_counter()
        render_image(asset)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def time_job(asset, kind, runs):
    """Median ms of run_job() for a fresh forced job of `kind` (claim, work, record, complete)."""
    from media_processing.models import ProcessingJob
    from media_processing.tasks import run_job

    queue = ProcessingJob.queue_for(kind)
    times = []
    for _ in range(runs):
        forget_renditions(asset)
        job = ProcessingJob.objects.create(asset=asset, kind=kind, queue=queue, force=True)
        start = time.perf_counter()
        outcome = run_job(job.id)
        times.append((time.perf_counter() - start) * 1000)
        assert outcome == "completed", (kind, outcome, ProcessingJob.objects.get(pk=job.pk).error)
    return statistics.median(times)


def rendition_bytes(asset, key):
    from django.core.files.storage import default_storage

    asset.refresh_from_db()
    return default_storage.size(asset.renditions[key]["name"])


def renditions_table(owner, runs):
    from PIL import Image

    from media_processing.renditions import decode_original

    png = encode(photo_like(1024, 1024, seed=1), "PNG")
    jpeg12 = encode(photo_like(4000, 3000, seed=2), "JPEG", quality=90)
    cases = [
        ("1024x1024 PNG", make_asset(owner, png, "png", "bench.png"), len(png)),
        ("4000x3000 (12 MP) JPEG", make_asset(owner, jpeg12, "jpg", "bench.jpg"), len(jpeg12)),
    ]
    rows = []
    for label, asset, nbytes in cases:
        decode = []
        for _ in range(runs):
            start = time.perf_counter()
            image, _ = decode_original(asset.original)
            decode.append((time.perf_counter() - start) * 1000)
        with asset.original.open("rb") as f:
            full = Image.open(f).size
        rows.append({
            "label": label,
            "bytes": nbytes,
            "size": full,
            "decode": statistics.median(decode),
            "render": time_render(asset, runs),
            "thumbnails": time_job(asset, "thumbnails", runs),
            "s150": rendition_bytes(asset, "150"),
            "variants": time_job(asset, "variants", runs),
        })
    return rows, cases


# --- processes ------------------------------------------------------------------------------


def child_env():
    return {**os.environ, "SERVER_TIMING": "1", "RATE_LIMITS": "0", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}


def start_workers(logdir, count=2, nice=0):
    """`count` Celery worker processes, concurrency 1 each, on the three queues
    (thumbnails first); at a lower CPU priority when `nice` is given."""
    workers = []
    for n in range(1, count + 1):
        log = Path(logdir) / f"worker{n}.log"
        log.write_text("")
        prefix = ["nice", "-n", str(nice)] if nice else []  # nice execs celery: same pid
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "celery", "-A", "i2v", "worker", "-Q", ",".join(QUEUES), "--concurrency", "1",
             "-n", f"bench{n}-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
             "-f", str(log)],
            cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        workers.append((proc, log))
    deadline = time.monotonic() + 60
    for proc, log in workers:
        while " ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(workers)
                raise SystemExit(f"celery worker did not start; see {log}")
            time.sleep(0.2)
    return workers


def stop(procs):
    for proc in procs:
        proc = proc[0] if isinstance(proc, tuple) else proc
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc = proc[0] if isinstance(proc, tuple) else proc
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


def worker_trees(workers):
    """For each worker, its main process and every process below it (the pool children), from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    trees = []
    for proc, _ in workers:
        found, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        trees.append(found)
    return trees


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak VmRSS of the worker processes and their pool children, read every 0.2 s."""

    def __init__(self, workers):
        super().__init__(daemon=True)
        self.workers, self.tree_kb, self.proc_kb = workers, 0, 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.2):
            for tree in worker_trees(self.workers):
                sizes = [rss_kb(pid) for pid in tree]
                self.tree_kb = max(self.tree_kb, sum(sizes))
                self.proc_kb = max(self.proc_kb, max(sizes))

    def stop(self):
        self.halt.set()
        self.join()
        return self.tree_kb / 1024, self.proc_kb / 1024


# --- 2. uploads while the workers are busy --------------------------------------------------


def post_file(token, data, name):
    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'.encode(),
        b"Content-Type: image/jpeg\r\n\r\n",
        data,
        f"\r\n--{boundary}--\r\n".encode(),
    ])  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/library/images", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        wall = (time.perf_counter() - start) * 1000
        assert response.status == 201, response.status
        timing = TIMING.search(response.headers["Server-Timing"])
    return float(timing.group(1)), wall, int(timing.group(3))


def percentile(values, p):
    values = sorted(values)
    return values[max(0, int(round(len(values) * p)) - 1)]


def uploads_table(owner, busy_asset, uploads, busy_jobs, idle_uploads=20):
    """Upload latency with no worker running (baseline), then while 2 workers are
    busy, then while 2 workers at nice 10 are busy (does lowering their CPU
    priority give the web its time back?)."""
    from i2v.models import ApiToken
    from media_processing.models import ProcessingJob

    jpeg, quality = five_mb_jpeg()
    token = ApiToken.issue(owner)
    numbers = iter(range(10**6))

    def upload(prefix):
        n = next(numbers)
        return post_file(token, distinct(jpeg, n), f"{prefix}-{n}.jpg")

    # The backlog: forced thumbnails and variants jobs of the 12 MP JPEG, sent to the broker now.
    for n in range(busy_jobs):
        kind = "variants" if n % 2 else "thumbnails"
        ProcessingJob.objects.schedule(busy_asset, kind, ProcessingJob.queue_for(kind), force=True)
    server = serve()
    phases = {}
    try:
        # Baseline: the same uploads with no worker running (their jobs wait in the broker).
        for _ in range(3):
            upload("warm-idle")
        phases["idle"] = {"samples": [upload("idle") for _ in range(idle_uploads)], "busy": 0, "done": 0}
        for phase, nice in (("busy", 0), ("busy-nice", 10)):
            before = ProcessingJob.objects.filter(status="completed").count()
            workers = start_workers(tempfile.mkdtemp(prefix="i2v-bench-workers-", dir=os.environ["VAR_DIR"]), nice=nice)
            sampler = RssSampler(workers)
            sampler.start()
            try:
                time.sleep(2)  # both workers are inside a job
                for _ in range(3):
                    upload("warm")
                samples, busy = [], 0
                for _ in range(uploads):
                    busy += ProcessingJob.objects.filter(status="processing").count() > 0
                    samples.append(upload(phase))
                done = ProcessingJob.objects.filter(status="completed").count() - before
            finally:
                rss = sampler.stop()
                stop(workers)
            phases[phase] = {"samples": samples, "busy": busy, "done": done, "rss": rss}
        left = ProcessingJob.objects.filter(status__in=("queued", "processing")).count()
    finally:
        stop([server])
    return {
        "bytes": len(jpeg), "quality": quality, "uploads": uploads, "idle_uploads": idle_uploads, "left": left,
        "phases": phases, "queries": max(s[2] for p in phases.values() for s in p["samples"]),
    }  # fmt: skip


def reset_queues():
    """Drop whatever the upload run left: no message, no job row still active."""
    from media_processing.models import ProcessingJob

    purge_broker()
    ProcessingJob.objects.filter(status__in=("queued", "processing")).delete()


# --- 3 and 4. throughput and RSS ------------------------------------------------------------


def make_backlog(owner, count):
    """`count` distinct ~1024 px JPEGs stored as originals through the storage API,
    with their thumbnails and variants jobs created but not sent."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from library.models import Asset, original_path
    from media_processing.models import ProcessingJob

    bases = [photo_like(1152, 1152, seed=s) for s in range(8)]
    assets = []
    for n in range(count):
        dx, dy = n % 97, (n // 97) % 97
        image = bases[n % 8].crop((dx, dy, dx + 1024, dy + 1024 - (n % 3) * 100))
        image.putpixel((n % 1024, 0), (n % 256, n // 256 % 256, 255))
        data = encode(image, "JPEG", quality=90)
        sha = hashlib.sha256(data).hexdigest()
        asset = Asset(owner=owner, kind="image", source="upload", filename=f"backlog-{n}.jpg", sha256=sha,
                      mime="image/jpeg", bytes=len(data), width=image.width, height=image.height)
        asset.original.name = default_storage.save(original_path(asset, "x.jpg"), ContentFile(data))
        assets.append(asset)
    Asset.objects.bulk_create(assets, batch_size=500)
    assets = list(Asset.objects.filter(owner=owner).order_by("id"))
    jobs = []
    for kind in ("thumbnails", "variants"):
        queue = ProcessingJob.queue_for(kind)
        jobs += [ProcessingJob(asset=a, kind=kind, queue=queue, priority=ProcessingJob.PRIORITIES[queue]) for a in assets]
    ProcessingJob.objects.bulk_create(jobs, batch_size=1000)
    return owner


def throughput_table(owner, count, max_wait):
    from django.db.models import Count

    from media_processing.models import ProcessingJob

    jobs = ProcessingJob.objects.filter(asset__owner=owner)
    workers = start_workers(tempfile.mkdtemp(prefix="i2v-bench-workers-", dir=os.environ["VAR_DIR"]))
    sampler = RssSampler(workers)
    sampler.start()
    t_thumbs, t_all = None, None
    try:
        start = time.perf_counter()
        ProcessingJob.objects.send_many(list(jobs.order_by("priority", "id")))
        next_poll = 0.0
        while True:
            now = time.perf_counter() - start
            if now >= next_poll:
                next_poll = now + 0.5
                done = jobs.filter(status="completed").values_list("kind").annotate(n=Count("id")).order_by()
                counts = dict(done)
                thumbs, variants = counts.get("thumbnails", 0), counts.get("variants", 0)
                if t_thumbs is None and thumbs >= count:
                    t_thumbs = now
                if thumbs + variants >= 2 * count:
                    t_all = now
                    break
                if now > max_wait:
                    break
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        failed = jobs.filter(status="failed").count()
    finally:
        peak_tree, peak_proc = sampler.stop()
        stop(workers)
    return {
        "count": count, "thumbs": thumbs, "variants": variants, "t_thumbs": t_thumbs, "t_all": t_all,
        "elapsed": elapsed, "failed": failed, "peak_tree_mb": peak_tree, "peak_proc_mb": peak_proc,
    }  # fmt: skip


def backlog_150_sizes(owner):
    from django.core.files.storage import default_storage

    from library.models import Asset

    renditions = Asset.objects.filter(owner=owner).values_list("renditions", flat=True)
    return [default_storage.size(r["150"]["name"]) for r in renditions if "150" in r]


# --- report ---------------------------------------------------------------------------------


def report(args, load, renders, up, tp, sizes150):
    today = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nDate: {today}. Load average before the run: {load}. "
          f"Command: `bench/processing.py --backlog {args.backlog} --uploads {args.uploads} --runs {args.runs} "
          f"--busy-jobs {args.busy_jobs}` (or `make bench-processing`)\n")

    print(f"### Renditions per image, in process (median of {args.runs})\n")
    print("| original | bytes | decode ms | render_image ms (decode + 600/300/150 + thumbhash) | "
          "thumbnails job ms (run_job) | variants job ms (run_job) | 150 px bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in renders:
        print(f"| {r['label']} | {r['bytes']:,} | {r['decode']:.1f} | {r['render']:.1f} | {r['thumbnails']:.1f} | "
              f"{r['variants']:.1f} | {r['s150']:,} |")

    ph = up["phases"]
    print(f"\n### Upload of a 5 MB JPEG while workers are busy ({up['uploads']} sequential uploads per row after 3 warm-ups)\n")
    print(f"File: 4000x3000 JPEG, {up['bytes']:,} bytes (quality {up['quality']}), every upload distinct bytes; "
          f"gunicorn 2 workers x 4 threads; 2 Celery worker processes (concurrency 1 each) on a backlog of forced "
          f"12 MP thumbnails and variants jobs plus the uploads' own jobs. A job was running at "
          f"{ph['busy']['busy']} and {ph['busy-nice']['busy']} of {up['uploads']} uploads; "
          f"{ph['busy']['done']} and {ph['busy-nice']['done']} jobs completed during those uploads; "
          f"{up['left']} still queued or running at the end.\n")
    print("| what | server p50 ms | server p95 ms | server max ms | client p50 ms | client p95 ms | SQL queries |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {
        "idle": f"no worker running (baseline, {up['idle_uploads']} uploads)",
        "busy": "2 workers busy",
        "busy-nice": "2 workers busy, started with nice -n 10",
    }
    for phase, label in labels.items():
        server = [s[0] for s in ph[phase]["samples"]]
        wall = [s[1] for s in ph[phase]["samples"]]
        print(f"| {label} | {statistics.median(server):.1f} | {percentile(server, 0.95):.1f} | {max(server):.1f} | "
              f"{statistics.median(wall):.1f} | {percentile(wall, 0.95):.1f} | {up['queries']} |")
    tree, proc = max(ph["busy"]["rss"], ph["busy-nice"]["rss"])
    print(f"\nPeak RSS of one worker on these 12 MP jobs (main process + pool child): {tree:.0f} MB; "
          f"of a single process: {proc:.0f} MB.")

    print(f"\n### Throughput, backlog of {tp['count']:,} images (~1024 px JPEG, quality 90) on 2 worker processes x concurrency 1\n")
    rows = []
    if tp["t_thumbs"] is not None:
        rows.append(("thumbnails only (every thumbnails job completed)", tp["count"], tp["t_thumbs"], ""))
    else:
        rows.append(("thumbnails only", tp["thumbs"], tp["elapsed"], " (partial: wait bound hit)"))
    if tp["t_all"] is not None:
        rows.append(("with variants (every thumbnails and variants job completed)", tp["count"], tp["t_all"], ""))
    else:
        rows.append(("with variants (assets with both done)", min(tp["thumbs"], tp["variants"]), tp["elapsed"], " (partial: wait bound hit)"))
    print("| what | images | seconds | images/min |")
    print("| --- | ---: | ---: | ---: |")
    for label, n, seconds, note in rows:
        print(f"| {label}{note} | {n:,} | {seconds:.1f} | {n / seconds * 60:,.0f} |")
    print(f"\nFailed jobs: {tp['failed']}. Peak RSS of one worker (main process + pool child): "
          f"{tp['peak_tree_mb']:.0f} MB; of a single process: {tp['peak_proc_mb']:.0f} MB (VmRSS every 0.2 s).")
    if sizes150:
        print(f"150 px renditions of the backlog: median {statistics.median(sizes150):,.0f} bytes, "
              f"max {max(sizes150):,} bytes ({len(sizes150):,} files).")


# --- Pillow against libvips, time and peak memory (--compare) ----------------------------------
# Each (image, library, job) runs in a child process of its own, so its peak RSS
# (VmHWM) is that work's alone: what a worker process would reach doing it.

COMPARE_CASES = (
    ("12 MP JPEG", 4000, 3000, "JPEG"),
    ("100 MP JPEG", 12000, 8334, "JPEG"),
    ("12 MP PNG", 4000, 3000, "PNG"),
    ("100 MP PNG", 12000, 8334, "PNG"),
)


def pillow_job(asset, kind):
    """The Pillow path as the worker ran it before libvips: one decode (JPEG draft mode),
    then every size resampled from the one before."""
    from media_processing import renditions as r

    if kind == "thumbnails":
        image, size = r.decode_original(asset.original)
        r.read_exif(image)
        r.render_image(asset, image, size)
    else:
        image, _ = r.decode_original(asset.original, draft=r.VARIANT_DRAFT_SIZE)
        r.write_variants(r.to_rgb(r.orient(image)), asset)


def vips_job(asset, kind):
    """The libvips path the worker runs now (media_processing/work.py)."""
    from media_processing import renditions as r

    if kind == "thumbnails":
        r.render_original(asset)
    else:
        r.render_original_variants(asset)


def render_child(library, path, kind, runs):
    """In a child process: run one job `runs` times on the file at `path`; print
    'median_ms peak_rss_mb baseline_rss_mb'."""
    django_setup()
    from django.core.files.storage import default_storage

    from library.models import Asset

    with open(path, "rb") as f:
        name = default_storage.save(f"originals/bench/{Path(path).name}", f)
    baseline = high_water_mb()
    job = pillow_job if library == "pillow" else vips_job
    times = []
    for _ in range(runs):
        asset = Asset(original=name, filename=Path(path).name)
        start = time.perf_counter()
        job(asset, kind)
        times.append((time.perf_counter() - start) * 1000)
    print(f"{statistics.median(times):.1f} {high_water_mb():.0f} {baseline:.0f}")


def high_water_mb():
    # VmHWM: this process's own peak RSS. Not ru_maxrss, which on Linux carries the
    # parent's peak across fork and exec (the parent here held a 100 MP test image).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status")


def compare(runs):
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we make the 100 MP test images ourselves
    work = Path(tempfile.mkdtemp(prefix="i2v-bench-compare-"))
    rows = []
    try:
        for label, width, height, fmt in COMPARE_CASES:
            print(f"making the {label}", file=sys.stderr)
            path = work / f"original.{fmt.lower()}"
            options = {"quality": 90} if fmt == "JPEG" else {"compress_level": 1}
            picture = photo_like(width, height, seed=3)
            picture.save(path, fmt, **options)
            del picture
            nbytes = path.stat().st_size
            for kind in ("thumbnails", "variants"):
                row = {"label": label, "bytes": nbytes, "kind": kind}
                for library in ("pillow", "vips"):
                    env = {**os.environ, "VAR_DIR": str(work / f"var-{library}")}
                    out = subprocess.run(
                        [sys.executable, __file__, "--render-child", library, str(path), kind, str(runs)],
                        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    ms, peak, base = (float(v) for v in out.stdout.split()[-3:])
                    row[library] = (ms, peak, base)
                    print(f"  {kind} {library}: {ms:.0f} ms, peak {peak:.0f} MB", file=sys.stderr)
                rows.append(row)
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\n## Pillow against libvips: renditions of one original ({time.strftime('%Y-%m-%d')}, load {load})\n")
    print(f"Each cell: the median of {runs} runs in a fresh process (one per cell), and that process's peak RSS")
    print("(VmHWM; the interpreter with Django and the libraries loaded, before any work, is the 'baseline').")
    print("thumbnails = size and EXIF, one decode, 600/300/150 px, thumbhash; variants = 3840/1920 px display sizes.\n")
    print("| original | bytes | job | Pillow p50 ms | libvips p50 ms | libvips / Pillow | Pillow peak RSS MB | libvips peak RSS MB | baseline MB |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        (pm, pp, pb), (vm, vp, vb) = row["pillow"], row["vips"]
        print(f"| {row['label']} | {row['bytes']:,} | {row['kind']} | {pm:.0f} | {vm:.0f} | {vm / pm:.2f}x | {pp:.0f} | {vp:.0f} | {max(pb, vb):.0f} |")



def main():
    if sys.argv[1:2] == ["--render-child"]:
        library, path, kind, runs = sys.argv[2:6]
        return render_child(library, path, kind, int(runs))
    if sys.argv[1:2] == ["--compare"]:
        runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
        return compare(runs)
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--runs", type=int, default=15, help="repetitions of each in-process measurement")
    parser.add_argument("--busy-jobs", type=int, default=400, help="forced 12 MP jobs queued before the uploads")
    parser.add_argument("--max-wait", type=int, default=900, help="seconds to wait for the backlog at most")
    parser.add_argument("--keep-db", action="store_true", help="keep a database this run created")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the budgets are for that stack.")
    if urlsplit(url).path.lstrip("/") in PROTECTED_DATABASES:
        raise SystemExit("Give this benchmark its own database (e.g. .../i2v_bench_proc): it writes and deletes rows.")
    own_var = "VAR_DIR" not in os.environ
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="i2v-bench-proc-"))
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    created = ensure_database(url)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"VAR_DIR={os.environ['VAR_DIR']}; database {'created' if created else 'exists'}; load {load}", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
        django_setup()
        from django.contrib.auth import get_user_model
        from django.db import connection

        purge_broker()
        tag = uuid.uuid4().hex[:6]
        users = get_user_model().objects
        print("1/3 renditions in process", file=sys.stderr)
        renders, cases = renditions_table(users.create_user(f"bench-render-{tag}"), args.runs)
        print("2/3 uploads while workers are busy", file=sys.stderr)
        up = uploads_table(users.create_user(f"bench-upload-{tag}", is_staff=True), cases[1][1], args.uploads, args.busy_jobs)
        reset_queues()
        print(f"3/3 throughput, {args.backlog} images", file=sys.stderr)
        owner = make_backlog(users.create_user(f"bench-backlog-{tag}"), args.backlog)
        tp = throughput_table(owner, args.backlog, args.max_wait)
        sizes150 = backlog_150_sizes(owner)
        reset_queues()
        connection.close()
        report(args, load, renders, up, tp, sizes150)
    finally:
        if created and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(url)
        if own_var:
            shutil.rmtree(os.environ["VAR_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
