"""Benchmark of `manage.py import_i2v` (not a test): prints a Markdown table.

Builds an i2v SQLite database of --pipelines pipelines (100,000 by default) the
way months of use leave one: one to three steps each (prompt enhance, i2i, i2v)
with i2v's JSON config, inputs and outputs (fal CDN URLs, thumbnails, items),
tags, favourites, hidden ones, costs, 2% of outputs downloaded into a local
folder (50 distinct JPEGs, so copies are deduplicated) and 0.5% bad rows. Then
imports it, as `manage.py import_i2v` in a subprocess, into:

- PostgreSQL (DATABASE_URL; a database of its own, created and dropped) with
  Redis (REDIS_URL, flushed before and after: the cache, and the broker the
  sweeper would later send the import's processing jobs to), and
- the embedded default (a SQLite file, the filesystem broker) with --sqlite,

each twice: the first import, then a second run that finds everything imported.
For each: wall time, source rows per second (pipelines plus steps read), our
rows written per second, and the import process's peak RSS (ru_maxrss from
wait4). Remote outputs are not fetched (that is the background's work).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/i2v_bench_import REDIS_URL=redis://127.0.0.1:6379/10 \\
       python bench/import_i2v.py [--pipelines 100000] [--batch 500] [--sqlite]
"""

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

from processing import PROTECTED_DATABASES, drop_database, ensure_database  # noqa: E402

CDN = "https://v3.fal.media/files"
MODELS_I2I = ["gpt-image-1.5", "flux-2-pro", "seedream-4", "nano-banana-pro"]
MODELS_I2V = ["kling", "wan", "veo3", "sora-2"]
TAGS = ["portrait", "Product", "client: ACME", "final", "draft", "social", "Q3 campaign", "4k", "archive", "test"]
WORDS = "golden moody vibrant cinematic soft portrait sneaker perfume lake skyline coffee neon studio rain".split()


# --- the source ------------------------------------------------------------------------------


def build_source(path, folder, pipelines, seed=7):
    """An i2v-shaped SQLite database; (pipelines, steps) written."""
    import datetime

    from imports.testing import I2vDatabase, stamp

    rng = random.Random(seed)
    pool = local_pool(folder, rng)
    db = I2vDatabase.sqlite(path).create_schema()
    conn = db.connection
    start = datetime.datetime(2024, 6, 1)
    step_rows, pipe_rows, step_id = [], [], 0
    for pid in range(1, pipelines + 1):
        created = start + datetime.timedelta(minutes=pid * 4)
        prompts = [" ".join(rng.sample(WORDS, 5)) for _ in range(rng.choice([1, 1, 2, 3]))]
        bad = rng.random() < 0.005
        tags = json.dumps(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])))
        pipe_rows.append((
            pid, f"{rng.choice(['Sunset', 'Product shots', 'Lookbook', 'Café'])} batch {pid}",
            "exploded" if bad and pid % 2 else rng.choice(["completed"] * 8 + ["failed", "paused"]),
            rng.choice(["auto", "manual", "checkpoint"]), "[]", "[broken" if bad and not pid % 2 else tags,
            int(rng.random() < 0.1), int(rng.random() < 0.05), "", stamp(created), stamp(created + datetime.timedelta(minutes=3)),
        ))  # fmt: skip
        kinds = rng.choice([["i2i"], ["i2i"], ["i2i", "i2v"], ["prompt_enhance", "i2i"], ["i2i", "i2i", "i2v"]])
        for order, kind in enumerate(kinds):
            step_id += 1
            step_rows.append(step_row(rng, step_id, pid, order, kind, prompts, created, pool))
        if len(pipe_rows) >= 10_000:
            flush(conn, pipe_rows, step_rows)
    flush(conn, pipe_rows, step_rows)
    conn.commit()
    db.close()
    return pipelines, step_id


def step_row(rng, step_id, pipeline_id, order, kind, prompts, created, pool):
    from imports.testing import stamp

    if kind == "prompt_enhance":
        config, outputs, cost = {"input_prompts": prompts, "variations_per_prompt": 3}, {"prompts": prompts * 3}, 0.003
    elif kind == "i2i":
        per = rng.choice([1, 1, 2])
        images = [f"{CDN}/src/{rng.getrandbits(48):x}.jpg"]
        urls = [
            rng.choice(pool) if rng.random() < 0.02 else f"{CDN}/out/{step_id}-{n}-{rng.getrandbits(40):x}.png"
            for n in range(len(images) * len(prompts) * per)
        ]
        config = {"model": rng.choice(MODELS_I2I), "images_per_prompt": per, "aspect_ratio": "9:16", "quality": "high"}
        outputs = {
            "image_urls": urls, "thumbnail_urls": [u.replace("/out/", "/thumb/") for u in urls],
            "items": [{"url": u, "type": "image"} for u in urls], "count": len(urls),
        }  # fmt: skip
        cost = 0.04 * len(urls)
    else:
        config = {"model": rng.choice(MODELS_I2V), "resolution": "1080p", "duration_sec": 5, "videos_per_image": 1}
        urls = [f"{CDN}/video/{step_id}-{rng.getrandbits(40):x}.mp4"]
        outputs, cost = {"video_urls": urls, "items": [{"url": u, "type": "video"} for u in urls], "count": 1}, 0.25
    inputs = {"image_urls": [f"{CDN}/src/{step_id}.jpg"], "prompts": prompts}
    moment = stamp(created)
    return (
        step_id, pipeline_id, kind, order, json.dumps(config), "completed", json.dumps(inputs), json.dumps(outputs),
        round(cost, 4), round(cost, 4), None, moment, moment,
    )  # fmt: skip


def flush(conn, pipe_rows, step_rows):
    conn.executemany("INSERT INTO pipelines VALUES (?,?,?,?,?,?,?,?,?,?,?)", pipe_rows)
    conn.executemany("INSERT INTO pipeline_steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", step_rows)
    pipe_rows.clear()
    step_rows.clear()


def local_pool(folder, rng, size=50):
    """Paths (as i2v wrote them) of `size` distinct small JPEGs under folder/downloads."""
    from PIL import Image

    downloads = folder / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(size):
        buf = io.BytesIO()
        Image.new("RGB", (256, 192), (rng.randrange(256), rng.randrange(256), n * 5)).save(buf, "JPEG", quality=85)
        (downloads / f"img_{n}.jpg").write_bytes(buf.getvalue())
        paths.append(f"downloads/img_{n}.jpg")
    return paths


# --- running the import ----------------------------------------------------------------------


def manage(env, *args):
    """Run manage.py in a subprocess: (seconds, its peak RSS in MB, its stdout).

    The child is reaped with wait4(), whose rusage is that one process's alone.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().strip()


def target_counts(env):
    script = (
        "from jobs.models import *; from library.models import Asset; from media_processing.models import ProcessingJob;"
        "print(Pipeline.objects.count(), Step.objects.count(), Output.objects.count(), Asset.objects.count(),"
        " ProcessingJob.objects.count(), PipelineTag.objects.count())"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [int(n) for n in out.stdout.split()[-6:]]


def import_into(name, env, source, folder, batch, source_rows):
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "ensure_login", "--username", "bench"], cwd=ROOT, env=env, check=True, capture_output=True)
    args = ("import_i2v", str(source), "--owner", "bench", "--files-from", str(folder), "--batch", str(batch), "-v0")
    rows = []
    for run in ("first import", "second run (all imported)"):
        seconds, peak, summary = manage(env, *args)
        print(f"{name}, {run}: {summary}", file=sys.stderr)
        rows.append((name, run, seconds, peak))
    written = sum(target_counts(env))
    return rows, written


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true", help="also import into the embedded default (SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and files")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the main figures are for that stack.")
    if urlsplit(url).path.lstrip("/") in PROTECTED_DATABASES:
        raise SystemExit("Give this benchmark its own database (e.g. .../i2v_bench_import): it is dropped at the end.")
    work = Path(tempfile.mkdtemp(prefix="i2v-bench-import-"))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        started = time.perf_counter()
        pipelines, steps = build_source(work / "wan_jobs.db", work / "i2v", args.pipelines)
        print(f"source: {pipelines:,} pipelines, {steps:,} steps in {time.perf_counter() - started:.0f} s; load {load}", file=sys.stderr)
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        targets = [("PostgreSQL + Redis", {**base, "DATABASE_URL": url, "REDIS_URL": os.environ["REDIS_URL"], "VAR_DIR": str(work / "var-pg")})]
        if args.sqlite:
            targets.append(("SQLite (embedded)", {**base, "VAR_DIR": str(work / "var-sqlite")}))
        ensure_database(url)
        purge_redis(os.environ["REDIS_URL"])
        table = []
        for name, env in targets:
            rows, written = import_into(name, env, work / "wan_jobs.db", work / "i2v", args.batch, pipelines + steps)
            for target, run, seconds, peak in rows:
                table.append((target, run, seconds, (pipelines + steps) / seconds, written / seconds if run == "first import" else None, peak))
        print(f"\n{pipelines:,} pipelines and {steps:,} steps (source rows: {pipelines + steps:,}), batch {args.batch}, load before {load}\n")
        print("| target | run | seconds | source rows/s | rows written/s | peak RSS MB |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for target, run, seconds, rate, written, peak in table:
            print(f"| {target} | {run} | {seconds:.1f} | {rate:,.0f} | {f'{written:,.0f}' if written else '–'} | {peak:.0f} |")
    finally:
        if not args.keep:
            drop_database(url)
            purge_redis(os.environ["REDIS_URL"])
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {work}", file=sys.stderr)


def purge_redis(url):
    import redis

    redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    main()
