"""Downloads: time to first byte and peak memory of the serving process for a zip of a 2 GB selection.

It makes a PostgreSQL database of its own (DATABASE_URL; dropped at the end) and a media folder
of files of realistic sizes (photos of 3, 5 and 8 MB and 40 MB videos, random bytes so
nothing compresses), kept under --media and reused by the next run, as writing them takes
a while. One pipeline has them all as outputs. Then gunicorn (the project's gthread worker,
1 worker x 4 threads, MEDIA_SENDFILE=django) serves, and a client streams and discards:

  (a) GET /downloads/zip?pipelines=<id>: the whole selection (--gigabytes, 2 by default)
  (b) the same for a tenth of the outputs (?outputs=...), to set memory beside (a)
  (c) GET /downloads/outputs/<id>: one 40 MB video, as an attachment

Each case runs --repeat times in a fresh gunicorn; figures: time to first byte and to the
last byte (medians), throughput, and the worker's resident memory: VmHWM (its peak since it
started) after one warm-up download, and after the case. The zip is checked as it passes:
its size, and its end-of-central-directory record naming every file plus the two manifests.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i2v_bench_dl python bench/downloads.py [--gigabytes 2] [--repeat 3]
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

from processing import PROTECTED_DATABASES, drop_database, ensure_database  # noqa: E402
MB = 1024 * 1024
# A cycle of realistic sizes: generated photos and a short video.
SIZES = [(3 * MB, "png"), (5 * MB, "jpg"), (8 * MB, "png"), (40 * MB, "mp4")]


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="size of the whole selection")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--media", default="/tmp/i2v-bench-downloads-media", help="kept between runs")
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args()


def prepare_database():
    """A fresh database of the bench's own (bench/processing.py's helpers); its URL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or url.rsplit("/", 1)[-1] in PROTECTED_DATABASES:
        sys.exit("Set DATABASE_URL to a PostgreSQL database of the bench's own (it is dropped at the end).")
    drop_database(url)
    ensure_database(url)
    return url


def make_files(media, owner_id, total_bytes):
    """[(name, sha256, size, ext)] of files adding up to total_bytes, written once and reused."""
    from library.media import original_name

    index_path = media / f"index-{owner_id}-{total_bytes}.json"
    if index_path.exists():
        files = json.loads(index_path.read_text())
        if all((media / f[0]).exists() for f in files):
            return files
    files, made, n = [], 0, 0
    while made < total_bytes:
        size, ext = SIZES[n % len(SIZES)]
        size = min(size, total_bytes - made) if total_bytes - made > MB else size
        data = random.Random(n).randbytes(size)
        sha = hashlib.sha256(data).hexdigest()
        name = original_name(owner_id, sha, ext)
        path = media / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append((name, sha, size, ext))
        made, n = made + size, n + 1
    index_path.write_text(json.dumps(files))
    return files


def make_rows(files):
    """A user, a pipeline whose outputs are the files (one step each, with prompt and seed), a token."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from i2v.models import ApiToken
    from jobs.models import Output, Pipeline, Step
    from library.models import Asset

    user = get_user_model().objects.create_user("bench-dl", password="bench-dl-password-1")
    pipeline = Pipeline.objects.create(owner=user, name="Download bench", model="flux-kontext", status="completed")
    mimes = {"png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}
    assets = Asset.objects.bulk_create(
        Asset(
            owner=user, kind="video" if ext == "mp4" else "image", source="generated", original=name, sha256=sha,
            mime=mimes[ext], bytes=size, filename=f"{sha[:12]}.{ext}", prompt=f"a fox number {n}, in the snow",
            processing_status="complete",
        )  # fmt: skip
        for n, (name, sha, size, ext) in enumerate(files)
    )
    steps = Step.objects.bulk_create(
        Step(
            owner=user, pipeline=pipeline, kind="i2v" if a.kind == "video" else "i2i", order=n, status="completed",
            config={"model": "flux-kontext", "prompt": a.prompt, "seed": 1000 + n}, cost_actual=Decimal("0.04"),
        )  # fmt: skip
        for n, a in enumerate(assets)
    )
    outputs = Output.objects.bulk_create(
        Output(owner=user, step=s, pipeline=pipeline, asset=a, position=s.order) for s, a in zip(steps, assets)
    )
    assert user.id == int(files[0][0].split("/")[1]), "the files were named for another owner id"
    return pipeline, outputs, ApiToken.issue(user)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    """gunicorn as production runs it (gthread), one worker so its memory is the one measured."""

    def __init__(self, port, media):
        self.port = port
        env = {**os.environ, "MEDIA_ROOT": str(media), "MEDIA_SENDFILE": "django", "GUNICORN_WORKERS": "1",
               "GUNICORN_THREADS": "4", "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_TIMEOUT": "600",
               "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1,localhost"}  # fmt: skip
        self.log = open(f"/tmp/i2v-bench-downloads-gunicorn-{port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "i2v.wsgi"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start; see " + self.log.name)

    def worker_pid(self):
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])

    def peak_rss(self):
        for line in Path(f"/proc/{self.worker_pid()}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def fetch(port, path, token):
    """(first byte s, last byte s, bytes, tail) of one GET, the body read a MiB at a time and dropped."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"{path[:80]} answered {response.status}: {response.read(500)!r}")
    first = response.read(1)
    ttfb = time.perf_counter() - started
    size, tail = len(first), first
    while chunk := response.read(MB):
        size += len(chunk)
        tail = (tail + chunk)[-65536:]
    total = time.perf_counter() - started
    conn.close()
    return ttfb, total, size, tail


def zip_entries(tail):
    """The number of entries the zip's end-of-central-directory record names (zip64 aware)."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise SystemExit("the zip has no end-of-central-directory record")
    count = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if count == 0xFFFF:
        at64 = tail.rfind(b"PK\x06\x06")
        count = struct.unpack("<Q", tail[at64 + 32 : at64 + 40])[0]
    return count


def run_case(label, path, expect_files, args, media, token):
    web = Web(args.port or free_port(), media)
    try:
        fetch(web.port, warmup_path, token)  # imports, connections, the download code: all warm
        baseline = web.peak_rss()
        runs = []
        for _ in range(args.repeat):
            ttfb, total, size, tail = fetch(web.port, path, token)
            if expect_files is not None and zip_entries(tail) != expect_files + 2:
                raise SystemExit(f"{label}: the zip names {zip_entries(tail)} entries, not {expect_files + 2}")
            runs.append((ttfb, total, size))
        return {"label": label, "runs": runs, "baseline": baseline, "peak": web.peak_rss()}
    finally:
        web.stop()


warmup_path = ""


def table(results, args, selection_bytes, file_count):
    print(f"\n### Downloads ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {args.repeat} runs per case, medians)\n")
    print(f"Selection: {file_count} files, {selection_bytes / 1e9:.2f} GB; gunicorn 1 worker x 4 threads, MEDIA_SENDFILE=django.\n")
    print("| case | size | first byte | last byte | throughput | worker peak RSS after warm-up | after the case | growth |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        ttfb = statistics.median(t for t, _, _ in r["runs"])
        total = statistics.median(t for _, t, _ in r["runs"])
        size = r["runs"][0][2]
        print(
            f"| {r['label']} | {size / 1e6:,.0f} MB | {ttfb * 1000:.0f} ms | {total:.1f} s | {size / total / 1e6:,.0f} MB/s "
            f"| {r['baseline'] / MB:.0f} MB | {r['peak'] / MB:.0f} MB | {(r['peak'] - r['baseline']) / MB:+.1f} MB |"
        )


def main():
    global warmup_path
    args = parse()
    url = prepare_database()
    media = Path(args.media)
    media.mkdir(parents=True, exist_ok=True)
    os.environ["MEDIA_ROOT"] = str(media)
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        t = time.perf_counter()
        files = make_files(media, 1, int(args.gigabytes * 1024**3))
        print(f"{len(files)} files ready in {time.perf_counter() - t:.1f} s under {media}")
        pipeline, outputs, token = make_rows(files)
        smallest = min(range(len(files)), key=lambda i: files[i][2])
        warmup_path = f"/downloads/zip?outputs={outputs[smallest].id}"
        tenth = outputs[: max(1, len(outputs) // 10)]
        video = next(o for o, f in zip(outputs, files) if f[3] == "mp4")
        selection = sum(f[2] for f in files)
        results = [
            run_case("(a) zip of the whole pipeline", f"/downloads/zip?pipelines={pipeline.id}", len(outputs), args, media, token),
            run_case("(b) zip of a tenth of its outputs", "/downloads/zip?outputs=" + ",".join(str(o.id) for o in tenth),
                     len(tenth), args, media, token),  # fmt: skip
            run_case("(c) one 40 MB video, /downloads/outputs/<id>", f"/downloads/outputs/{video.id}", None, args, media, token),
        ]
        table(results, args, selection, len(files))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()
