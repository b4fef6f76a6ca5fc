"""Fault benchmark (not a test): what production does when a worker is killed,
the database stops or the broker restarts. Prints Markdown tables.

Everything runs on servers of the bench's own, because it stops and restarts
them: a private PostgreSQL 15 cluster (initdb as the postgres user under /tmp,
another port) and a private redis-server (another port, no persistence; broker
in db 0, cache in db 1). The shared servers are never touched. The processes are
the ones `make run` starts, with the production timings (the settings'
defaults: WORK_LEASE_SECONDS=30, WORK_HEARTBEAT_SECONDS=5, WORK_SWEEP_SECONDS=10;
the environment's WORK_* variables are dropped): gunicorn (2 workers x 4
threads), the media worker (-Q thumbnails,variants,backfill --concurrency 2,
nice 10), the generation worker (--concurrency 2, nice 10), the control worker
(the sweepers) and beat, started through i2v/testing/workers.py's Cluster. A
supervisor thread plays the restart policy production needs: any of them that
exits is started again 2 s later (the bench's own kills go through it too), and
an exit the bench didn't cause is reported as a crash.

Faults, one after the other; each phase is waited out (bounded) before the next:
  1. media kills: --images (1,000) images uploaded through POST /api/library/images
     (bearer token, 2 client threads); SIGKILL of a pool process inside a run, of
     the worker's main process (its pool dies with it), and of the main process
     again, at 25/50/75 % of the jobs done;
  2. generation kills: a 10 sources x 5 prompts pipeline, i2i then i2v on the local
     preview models (100 steps), through POST /api/pipelines; SIGKILL of a pool
     process of the generation worker inside a run, then of its main process;
  3. database outage: PostgreSQL stopped (pg_ctl stop -m fast) for 20 s under a
     backlog of --outage-images uploads, while a client keeps uploading and viewing
     pages and the API;
  4. broker restart without persistence: Redis crashed (SIGKILL) and started empty
     while --restart-images uploads are queued, new uploads arriving;
  5. the same with append-only persistence (redis-server --appendonly yes);
  6. web restart: gunicorn reloaded (SIGHUP), then stopped (SIGTERM) and started
     again 2 s later, under the same client.

How each figure is measured (never assumed):
- done / lost / stuck: the rows of the phase's work at the end of its bounded wait.
  Lost: an upload answered 201 whose asset or job rows are missing, or a job or
  step that failed for good. Stuck: still queued or running.
- duplicated: triggers the bench adds to its own database record every status
  change of a processing job or step (with the time) and every write of an
  asset's renditions. A row that became completed twice, an asset whose
  renditions were written more times than it has jobs, or a step with more
  outputs than it plans is duplicated work. As a cross-check, the workers' logs
  are read for runs that reported 'completed' (more of them than rows completed
  would be work done twice).
- recovery: for a kill, from the kill until every run the killed process held is
  running again (a new attempt claimed its row) or done, from the status events;
  for the outage and the broker restarts, from the service's return until one
  of the jobs that were queued when the fault hit completes (new uploads
  completing don't count); for the web, from the stop until it answers again.
- 5xx / 503 / connection errors: every response the phase's clients got.

Needs root (for `su postgres -c initdb`), PostgreSQL 15's server binaries and
redis-server. Every wait is bounded; only the processes it starts are stopped.

Usage: python bench/faults.py [--images 1000] [--outage-seconds 20]   (or: make bench-faults)
"""

import argparse
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEDIA_QUEUES = ("thumbnails", "variants", "backfill")
JOBS, STEPS = "media_processing_processingjob", "jobs_step"
LEASED = {JOBS: "processing", STEPS: "running"}
PROMPTS = ["a red fox in the snow", "a blue owl at dusk", "a green frog on a leaf", "a city street in rain",
           "a lighthouse at dawn"]  # fmt: skip
# POST /api/pipelines fields of both stages on the local preview models (docs/api.md).
PIPELINE = {
    "mode": "auto", "i2i_enabled": True, "i2i_model": "local-i2i", "images_per_prompt": 1, "quality": "standard",
    "i2v_enabled": True, "i2v_model": "local-i2v", "videos_per_image": 1, "resolution": "480p", "duration": 2,
}  # fmt: skip
RESULT = re.compile(r"Task (media_processing\.tasks\.run_job|jobs\.tasks\.run_step)\[[^\]]+\] succeeded in [\d.]+s: '([^']*)'")
RESENT = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d+).*the broker lost (\d+) messages", re.M)

# Instruments of the bench's own database: status changes and rendition writes, timed by the server.
AUDIT_SQL = """
CREATE TABLE bench_event (
    id bigserial PRIMARY KEY, tbl text NOT NULL, row_id bigint NOT NULL, old_status text,
    new_status text NOT NULL, attempts integer NOT NULL,
    at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()));
CREATE INDEX bench_event_row ON bench_event (tbl, row_id, at);
CREATE INDEX bench_event_at ON bench_event (at);
CREATE FUNCTION bench_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO bench_event (tbl, row_id, old_status, new_status, attempts)
        VALUES (TG_TABLE_NAME, NEW.id, OLD.status, NEW.status, NEW.attempts);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_job_status AFTER UPDATE OF status ON media_processing_processingjob
    FOR EACH ROW EXECUTE FUNCTION bench_status_event();
CREATE TRIGGER bench_step_status AFTER UPDATE OF status ON jobs_step
    FOR EACH ROW EXECUTE FUNCTION bench_status_event();
CREATE TABLE bench_rendered (
    id bigserial PRIMARY KEY, asset_id bigint NOT NULL,
    at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()));
CREATE INDEX bench_rendered_asset ON bench_rendered (asset_id);
CREATE FUNCTION bench_rendered_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_rendered (asset_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_asset_rendered AFTER UPDATE OF renditions ON library_asset
    FOR EACH ROW EXECUTE FUNCTION bench_rendered_event();
"""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the bench's database, read from outside the app ------------------------------------------


class Db:
    """A psycopg connection to the private cluster that reconnects after an outage."""

    def __init__(self, url):
        self.url = url
        self.conn = None

    def rows(self, sql, *params):
        import psycopg

        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                return self.conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(1)

    def value(self, sql, *params):
        return self.rows(sql, *params)[0][0]

    def script(self, sql):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)


# --- images ------------------------------------------------------------------------------------


class Pictures:
    """Distinct JPEGs (every one different bytes, so no upload is a duplicate)."""

    def __init__(self):
        from processing import photo_like  # bench/processing.py: photo-like gradients, objects and grain

        self.bases = [photo_like(1152, 1152, seed=s) for s in range(6)]
        self.n = 0
        self.lock = threading.Lock()

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def photo(self):
        """About 1024 x 768, quality 88: what a backlog of camera exports costs a worker, scaled down."""
        n = self.next_n()
        dx, dy = n % 113, (n // 113) % 113
        image = self.bases[n % len(self.bases)].crop((dx, dy, dx + 1024, dy + 768))
        image.putpixel((n % 1024, 0), (n % 256, n // 256 % 256, 255))
        return self._jpeg(image, 88), f"photo-{n}.jpg"

    def small(self):
        """A 640 x 480 picture for the client that keeps uploading while a fault goes on."""
        from PIL import Image, ImageDraw

        n = self.next_n()
        image = Image.new("RGB", (640, 480), ((n * 37) % 256, (n * 91) % 256, 160))
        ImageDraw.Draw(image).ellipse((40 + n % 200, 60, 400 + n % 200, 420), fill=(240, (n * 13) % 256, 40))
        image.putpixel((n % 640, 0), (n % 256, n // 256 % 256, 7))
        return self._jpeg(image, 85), f"live-{n}.jpg"

    @staticmethod
    def _jpeg(image, quality):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()


# --- clients -------------------------------------------------------------------------------------


class Responses:
    """Every answer the clients got: (time, what, status or 'error'), and the ids of accepted uploads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []
        self.accepted = []

    def record(self, what, status):
        with self.lock:
            self.answers.append((time.time(), what, status))

    def accept(self, asset_id):
        with self.lock:
            self.accepted.append(asset_id)

    def counts(self, since=0.0, until=float("inf")):
        answers = [status for at, _, status in self.answers if since <= at <= until]
        return {
            "requests": len(answers),
            "5xx": sum(1 for s in answers if isinstance(s, int) and s >= 500 and s != 503),
            "503": sum(1 for s in answers if s == 503),
            "errors": sum(1 for s in answers if s == "error"),
        }


class Web:
    def __init__(self, base, token, username, password):
        self.base, self.token, self.username, self.password = base, token, username, password

    def api(self):
        import httpx

        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def browser(self):
        """A logged-in session, as a person's browser has."""
        import httpx

        client = httpx.Client(base_url=self.base, timeout=30)
        client.get("/login/")
        client.post("/login/", data={
            "username": self.username, "password": self.password, "csrfmiddlewaretoken": client.cookies["csrftoken"],
        })  # fmt: skip
        return client

    @staticmethod
    def call(responses, what, request):
        import httpx

        try:
            response = request()
        except httpx.HTTPError:
            responses.record(what, "error")
            return None
        responses.record(what, response.status_code)
        return response

    def upload(self, client, responses, data, name):
        response = self.call(responses, "upload", lambda: client.post("/api/library/images", files={"files": (name, data)}))
        if response is not None and response.status_code == 201:
            for item in response.json()["items"]:
                if item.get("status") == 201:
                    responses.accept(item["id"])
        return response


class Uploader(threading.Thread):
    """`count` uploads of photos, one after another (several of these run side by side)."""

    def __init__(self, web, pictures, responses, count):
        super().__init__(daemon=True)
        self.web, self.pictures, self.responses, self.count = web, pictures, responses, count

    def run(self):
        with self.web.api() as client:
            for _ in range(self.count):
                self.web.upload(client, self.responses, *self.pictures.photo())


def upload_backlog(web, pictures, responses, count, threads=2):
    uploaders = [Uploader(web, pictures, responses, count // threads + (n < count % threads)) for n in range(threads)]
    for uploader in uploaders:
        uploader.start()
    return uploaders


class Visitor(threading.Thread):
    """A person and a script using the site while a fault goes on: an upload (when
    `uploads`), the library and pipelines APIs, the Jobs and Library pages; about
    four requests a second."""

    def __init__(self, web, pictures, responses, uploads=True):
        super().__init__(daemon=True)
        self.web, self.pictures, self.responses, self.uploads = web, pictures, responses, uploads
        self.halt = threading.Event()

    def run(self):
        api, browser = self.web.api(), None
        try:
            while not self.halt.is_set():
                if browser is None:
                    try:
                        browser = self.web.browser()
                    except Exception:  # noqa: BLE001 - the web or its database is down: try later
                        self.responses.record("login", "error")
                        browser = None
                if self.uploads:
                    self.web.upload(api, self.responses, *self.pictures.small())
                self.web.call(self.responses, "api list", lambda: api.get("/api/library/images?page_size=20"))
                self.web.call(self.responses, "api pipelines", lambda: api.get("/api/pipelines"))
                if browser is not None:
                    self.web.call(self.responses, "jobs page", lambda: browser.get("/jobs/"))
                    self.web.call(self.responses, "library page", lambda: browser.get("/library/"))
                self.halt.wait(0.25)
        finally:
            api.close()
            if browser is not None:
                browser.close()

    def stop(self):
        self.halt.set()
        self.join(timeout=60)


# --- processes -----------------------------------------------------------------------------------

RESTART_DELAY = 2  # seconds a restart policy waits before starting an exited process again


class Supervisor(threading.Thread):
    """A restart policy (compose's `restart: unless-stopped`, supervisord): any
    process of the stack that exits is started again RESTART_DELAY s later. The
    bench announces its own kills and stops with expect(); any other exit is a
    crash, recorded with the last critical line of its log."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.expected = set()
        self.crashes = []  # (time, role, reason)
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def expect(self, role):
        with self.lock:
            self.expected.add(role)

    def run(self):
        while not self.halt.wait(0.2):
            for role, process in list(self.stack.procs.items()):
                if process.poll() is None:
                    continue
                with self.lock:
                    expected = role in self.expected
                    self.expected.discard(role)
                if not expected:
                    self.crashes.append((time.time(), role, self._reason(process)))
                    log(f"the {role} process exited by itself: {self.crashes[-1][2]}")
                if self.halt.wait(RESTART_DELAY):
                    return
                getattr(self.stack, role)()

    def _reason(self, process):
        lines = [line for line in self.stack.cluster.log(process).splitlines() if "CRITICAL" in line or "Unrecoverable" in line]
        return lines[-1].split("] ", 1)[-1][:200] if lines else f"exit code {process.returncode}"

    def stop(self):
        self.halt.set()
        self.join(timeout=30)



class Stack:
    """The servers and processes of `make run`, on the bench's own PostgreSQL and Redis."""

    def __init__(self, root, pg, redis_server, web_port):
        from i2v.testing.workers import Cluster

        self.root, self.pg, self.redis, self.web_port = root, pg, redis_server, web_port
        # timings={}: the settings' defaults, i.e. production's leases, heartbeats and sweeps.
        self.cluster = Cluster(root, broker=redis_server.url, database=pg.url, timings={})
        self.names = {}
        self.procs = {}
        self.supervisor = Supervisor(self)

    def _name(self, role):
        self.names[role] = self.names.get(role, 0) + 1
        return role if self.names[role] == 1 else f"{role}-{self.names[role]}"

    def _celery(self, role, *args, nice=False):
        prefix = ["nice", "-n", "10"] if nice else []  # nice execs celery: the same pid
        process = self.cluster.spawn(self._name(role), [*prefix, sys.executable, "-m", "celery", "-A", "i2v", *args])
        self.procs[role] = process
        return process

    def media(self):
        return self._celery("media", "worker", "-n", "media@%h", "-Q", ",".join(MEDIA_QUEUES), "--loglevel=INFO",
                            "--concurrency=2", nice=True)  # fmt: skip

    def generation(self):
        return self._celery("generation", "worker", "-n", "generation@%h", "-Q", "generation", "--loglevel=INFO",
                            "--concurrency=2", nice=True)  # fmt: skip

    def control(self):
        return self._celery("control", "worker", "-n", "control@%h", "-Q", "control", "--loglevel=INFO", "--concurrency=1")

    def beat(self):
        return self._celery("beat", "beat", "--loglevel=INFO", "-s", str(self.root / "celerybeat-schedule"))

    def web(self):
        process = self.cluster.spawn(self._name("web"), [
            sys.executable, "-m", "gunicorn", "i2v.wsgi", "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2",
            "--threads", "4", "--access-logfile", "-",
        ])  # fmt: skip
        self.procs["web"] = process
        return process

    @property
    def base(self):
        return f"http://127.0.0.1:{self.web_port}"

    def start(self):
        for start in (self.media, self.generation, self.control, self.beat, self.web):
            start()
        for role in ("media", "generation", "control"):
            self.wait_ready(role)
        self.wait_web()
        self.supervisor.start()

    def restarted(self, role, old, timeout=60):
        """Wait until the supervisor started `role` again after `old` exited, and it is ready."""
        if not wait_for(lambda: self.procs[role] is not old, timeout, pause=0.1):
            raise SystemExit(f"the supervisor did not start {role} again")
        if role == "web":
            self.wait_web()
        else:
            self.wait_ready(role)

    def wait_ready(self, role, timeout=90):
        process = self.procs[role]
        ok = wait_for(lambda: " ready." in self.cluster.log(process) or process.poll() is not None, timeout)
        if not ok or process.poll() is not None:
            raise SystemExit(f"the {role} worker did not start:\n{self.cluster.log(process)[-3000:]}")

    def web_answers(self):
        import httpx

        try:
            return httpx.get(f"{self.base}/login/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_web(self, timeout=60):
        if not wait_for(self.web_answers, timeout, pause=0.1):
            raise SystemExit(f"gunicorn did not answer:\n{self.cluster.log(self.procs['web'])[-3000:]}")

    def pool_children(self, role):
        return self.cluster.pool_children(self.procs[role])

    def busy_child(self, role):
        """A pool process inside a run: the only time it has a second thread is
        while a LeaseKeeper renews the lease of the row it runs."""
        for pid in self.pool_children(role):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1)) >= 2:
                return pid
        return None

    def kill(self, role, what):
        """SIGKILL a pool child, or the main process (its pool children die with
        it: celery sets PDEATHSIG); the time of the kill."""
        process = self.procs[role]
        if what == "child":
            children = self.pool_children(role)
            if not children:
                raise SystemExit(f"the {role} worker has no pool process to kill")
            os.kill(self.busy_child(role) or children[0], signal.SIGKILL)
            at = time.time()
        else:
            self.supervisor.expect(role)
            os.kill(process.pid, signal.SIGKILL)
            at = time.time()
        return at

    def logs(self):
        """{file name: text} of every worker log (restarted workers have their own file)."""
        return {p.name: self.cluster.log(p) for p in self.cluster.started if not p.name.startswith("web")}

    def stop(self):
        self.supervisor.stop()
        self.cluster.stop_all()


def wait_for(condition, timeout, pause=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(pause)
    return False


# --- measuring a phase ---------------------------------------------------------------------------


@dataclass
class Kill:
    role: str
    what: str  # "pool child" or "main process"
    at: float
    held: list  # [(table, row id, attempts)] leased when the process died
    # [(row id, its status then)] of the messages the dead worker had received and not acknowledged
    orphans: list = field(default_factory=list)
    recovered: float | None = None  # seconds until every affected run was claimed again or done
    affected: int = 0
    orphans_done: float | None = None  # seconds until the orphans' rows that were queued completed
    timeline: list = field(default_factory=list)  # per run cut off: (s until queued again, s until claimed again)


@dataclass
class Row:
    fault: str
    work: str
    done: int = 0
    total: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    http: dict = field(default_factory=dict)
    recovery: float | None = None
    recovery_note: str = ""
    start: float = 0.0
    wall: float = 0.0
    notes: list = field(default_factory=list)
    crashes: list = field(default_factory=list)  # (time, role, reason) of processes that exited by themselves


class Bench:
    def __init__(self, args, stack, db, web, pictures):
        self.args, self.stack, self.db, self.web, self.pictures = args, stack, db, web, pictures
        self.kills = []

    # --- rows of a phase ---

    def job_counts(self, asset_ids):
        rows = self.db.rows(
            f"SELECT status, count(*) FROM {JOBS} WHERE asset_id = ANY(%s::bigint[]) GROUP BY status", list(asset_ids)
        )
        return dict(rows)

    def jobs_done(self, asset_ids):
        return self.job_counts(asset_ids).get("completed", 0)

    def active_jobs(self, asset_ids):
        counts = self.job_counts(asset_ids)
        return counts.get("queued", 0) + counts.get("processing", 0)

    def leased(self, table, extra=""):
        return [(table, pk, attempts) for pk, attempts in
                self.db.rows(f"SELECT id, attempts FROM {table} WHERE status = %s {extra}", LEASED[table])]  # fmt: skip

    def drain(self, active, bound, stall):
        """Wait until active() is 0; give up after `bound` s, or `stall` s without progress."""
        deadline = time.monotonic() + bound
        last, changed = None, time.monotonic()
        while time.monotonic() < deadline:
            now = active()
            if now == 0:
                return True
            if now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed > stall:
                log(f"no progress for {stall} s with {now} rows active: giving up the wait")
                return False
            time.sleep(1)
        log(f"still {active()} rows active after {bound} s")
        return False

    def media_outcome(self, row, asset_ids):
        """done / lost / stuck / duplicated of the processing jobs of `asset_ids`."""
        ids = list(asset_ids)
        counts = self.job_counts(ids)
        present = self.db.value("SELECT count(*) FROM library_asset WHERE id = ANY(%s::bigint[])", ids)
        kinds = self.db.rows(
            f"SELECT asset_id, count(DISTINCT kind) FROM {JOBS} WHERE asset_id = ANY(%s::bigint[]) GROUP BY asset_id", ids
        )  # fmt: skip
        missing_jobs = sum(2 - n for _, n in kinds if n < 2) + 2 * (present - len(kinds))
        row.total = 2 * len(ids)
        row.done = counts.get("completed", 0)
        row.stuck = counts.get("queued", 0) + counts.get("processing", 0)
        row.lost = 2 * (len(ids) - present) + missing_jobs + counts.get("failed", 0)
        twice = self.db.value(
            "SELECT count(*) FROM (SELECT row_id FROM bench_event WHERE tbl = %s AND new_status = 'completed' "
            "AND row_id IN (SELECT id FROM " + JOBS + " WHERE asset_id = ANY(%s::bigint[])) GROUP BY row_id HAVING count(*) > 1) t",
            JOBS, ids,
        )  # fmt: skip
        rendered_too_often = self.db.value(
            "SELECT count(*) FROM (SELECT r.asset_id, count(*) AS n FROM bench_rendered r WHERE r.asset_id = ANY(%s::bigint[]) "
            "GROUP BY r.asset_id) r JOIN (SELECT asset_id, count(DISTINCT kind) AS k FROM " + JOBS +
            " WHERE asset_id = ANY(%s::bigint[]) GROUP BY asset_id) j ON j.asset_id = r.asset_id WHERE r.n > j.k",
            ids, ids,
        )  # fmt: skip
        retried = self.db.value(f"SELECT count(*) FROM {JOBS} WHERE asset_id = ANY(%s::bigint[]) AND attempts > 1", ids)
        row.duplicated = max(twice, rendered_too_often)
        row.notes.append(
            f"{twice} jobs completed twice, {rendered_too_often} assets whose renditions were written more often than "
            f"they have jobs; {retried} jobs ran more than one attempt"
        )
        return row

    def log_check(self, row, before, table_counts):
        """Runs the workers' logs report as 'completed' during the phase vs rows that completed in it."""
        after = self.stack.logs()
        outcomes = {}
        for name, text in after.items():
            for task, outcome in RESULT.findall(text[len(before.get(name, "")):]):
                key = (task.rsplit(".", 1)[1], outcome)
                outcomes[key] = outcomes.get(key, 0) + 1
        completed = sum(n for (task, outcome), n in outcomes.items() if outcome == "completed")
        summary = ", ".join(f"{task} {outcome} {n}" for (task, outcome), n in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        row.notes.append(
            f"worker logs: {completed} runs reported 'completed' for {table_counts} rows completed during the phase "
            f"(all outcomes: {summary or 'none'})"
        )
        if completed > table_counts:
            row.duplicated = max(row.duplicated, completed - table_counts)

    def completions_between(self, since, until):
        return self.db.value(
            "SELECT count(*) FROM bench_event WHERE new_status = 'completed' AND at BETWEEN %s AND %s", since, until
        )

    def waiting(self, asset_ids):
        """{queue: [job ids]} of the jobs queued at this moment (waiting for a worker)."""
        found = {}
        for queue, pk in self.db.rows(
            f"SELECT queue, id FROM {JOBS} WHERE asset_id = ANY(%s::bigint[]) AND status = 'queued'",
            list(asset_ids),
        ):  # fmt: skip
            found.setdefault(queue, []).append(pk)
        return found

    def resumed_after(self, moment, waiting):
        """Seconds from `moment` until one of the jobs `waiting` (queued when the
        fault hit) completed: the work that was there resumed, not only new work.
        With a note of the first completion per queue (later queues wait their turn:
        thumbnails go first) and of when all of them were done."""
        if not waiting:
            return None, "no work was waiting"
        firsts, lasts = {}, {}
        for queue, ids in waiting.items():
            firsts[queue], lasts[queue] = self.db.rows(
                "SELECT min(at), max(at) FROM bench_event WHERE tbl = %s AND new_status = 'completed' AND at > %s "
                "AND row_id = ANY(%s::bigint[])", JOBS, moment, ids,
            )[0]  # fmt: skip
        done = [at for at in firsts.values() if at is not None]
        if not done:
            return float("inf"), "no waiting job completed"
        detail = ", ".join(
            f"{queue} +{at - moment:.1f} s" if at else f"{queue} never" for queue, at in sorted(firsts.items())
        )
        total = sum(len(ids) for ids in waiting.values())
        all_done = max((at for at in lasts.values() if at), default=None)
        return min(done) - moment, (
            f"first completion of the {total} jobs queued at the fault, per queue: {detail}; "
            f"all of them done +{all_done - moment:.0f} s"
        )

    def unacknowledged(self, table):
        """The messages of `table`'s queues that Redis holds as delivered and not
        acknowledged (right after a main process died, before a new worker
        starts, all of them are the dead worker's): [(row id, status of the row)].
        Redis hands them out again only after the visibility timeout."""
        import base64
        import json

        import redis

        queues = ("generation",) if table == STEPS else MEDIA_QUEUES
        client = redis.Redis(port=self.stack.redis.port, socket_connect_timeout=2)
        ids = []
        for raw in client.hvals("unacked"):
            message, _exchange, routing_key = json.loads(raw)
            if routing_key in queues:
                ids.append(json.loads(base64.b64decode(message["body"]))[0][0])
        status = dict(self.db.rows(f"SELECT id, status FROM {table} WHERE id = ANY(%s::bigint[])", ids))
        return [(pk, status.get(pk)) for pk in ids]

    def measure_kill(self, kill):
        """When every run the killed process held was running again or done (from the status events)."""
        worst, affected = None, 0
        for table, pk, attempts in kill.held:
            first = self.db.rows(
                "SELECT at, attempts FROM bench_event WHERE tbl = %s AND row_id = %s AND at > %s AND "
                "((new_status = %s AND attempts > %s) OR new_status IN ('completed', 'failed')) ORDER BY at LIMIT 1",
                table, pk, kill.at, LEASED[table], attempts,
            )  # fmt: skip
            if not first:
                worst = float("inf")  # never ran again: stuck
                affected += 1
                continue
            at, new_attempts = first[0]
            if new_attempts > attempts:  # this run was cut off and a new attempt took the row
                affected += 1
                worst = max(worst or 0, at - kill.at)
                requeued = self.db.value(
                    "SELECT min(at) FROM bench_event WHERE tbl = %s AND row_id = %s AND at > %s AND new_status = 'queued'",
                    table, pk, kill.at,
                )  # fmt: skip
                kill.timeline.append((requeued - kill.at if requeued else None, at - kill.at))
        kill.recovered, kill.affected = worst, affected
        table = kill.held[0][0] if kill.held else (STEPS if kill.role == "generation" else JOBS)
        queued = [pk for pk, status in kill.orphans if status not in (LEASED[table], "completed", "failed")]
        if queued:
            # Rows still queued whose only message the dead worker held: when did they run?
            done = self.db.value(
                "SELECT max(at) FROM bench_event WHERE tbl = %s AND new_status = 'completed' AND at > %s "
                "AND row_id = ANY(%s::bigint[])", table, kill.at, queued,
            )  # fmt: skip
            finished = self.db.value(
                f"SELECT count(*) FROM {table} WHERE id = ANY(%s::bigint[]) AND status = 'completed'", queued
            )
            kill.orphans_done = (done - kill.at) if done and finished == len(queued) else float("inf")
        return kill

    def busy(self, role, what, table):
        """When to kill: a pool process inside a run, or the whole worker with both of its processes busy."""
        if what == "pool child":
            return lambda: self.stack.busy_child(role) is not None
        return lambda: len(self.leased(table, "AND heartbeat_at > now() - interval '8 seconds'")) >= 2

    def kill(self, role, what, table, ready):
        """Wait until `ready()` (the worker busy), then kill; a Kill with the runs it held."""
        if not wait_for(ready, 60, pause=0.05):
            log(f"{role} was not busy within 60 s; killing it anyway")
        # The runs of the process about to die: leased rows whose lease is being renewed (not
        # those of a process killed earlier, whose leases have not run out yet).
        earlier = {run for kill in self.kills for run in kill.held}
        held = [run for run in self.leased(table, "AND heartbeat_at > now() - interval '8 seconds'") if run not in earlier]
        process = self.stack.procs[role]
        at = self.stack.kill(role, "child" if what == "pool child" else "main")
        log(f"killed the {what} of the {role} worker, holding {len(held)} runs")
        orphans = []
        if what == "main process":
            # Redis keeps the messages of an earlier dead worker too (until the visibility timeout).
            earlier = {pk for kill in self.kills for pk, _ in kill.orphans}
            orphans = [(pk, status) for pk, status in self.unacknowledged(table) if pk not in earlier]
            log(f"it left {len(orphans)} messages unacknowledged: rows {orphans}")
            self.stack.restarted(role, process)
            log(f"{role} worker started again")
        kill = Kill(role, what, at, held, orphans)
        self.kills.append(kill)
        return kill

    # --- the phases ---

    def media_kills(self):
        args = self.args
        row = Row("1. media worker SIGKILLed 3 times (pool process, main process x2)", f"{args.images:,} uploaded images")
        responses = Responses()
        before = self.stack.logs()
        start = time.time()
        uploaders = upload_backlog(self.web, self.pictures, responses, args.images)
        visitor = Visitor(self.web, self.pictures, responses, uploads=False)
        visitor.start()
        plan = ["pool child", "main process", "main process"]
        kills = []
        for n, what in enumerate(plan):
            target = (n + 1) / (len(plan) + 1) * 2 * args.images
            wait_for(lambda: self.jobs_done(responses.accepted) >= target, 900, pause=1)
            kills.append(self.kill("media", what, JOBS, self.busy("media", what, JOBS)))
        for uploader in uploaders:
            uploader.join(timeout=900)
        self.drain(lambda: self.active_jobs(responses.accepted), args.max_wait, args.stall)
        visitor.stop()
        row.start, row.wall = start, time.time() - start
        row.crashes = [crash for crash in self.stack.supervisor.crashes if crash[0] >= start]
        self.media_outcome(row, responses.accepted)
        self.finish_kills(row, kills)
        row.http = responses.counts()
        self.log_check(row, before, self.completions_between(start, time.time()))
        return row, responses.accepted

    def finish_kills(self, row, kills):
        for kill in kills:
            self.measure_kill(kill)
        recovered = [k.recovered for k in kills if k.recovered is not None]
        row.recovery = max(recovered) if recovered else None
        row.recovery_note = "kill to the killed runs claimed again or done"
        idle = [k for k in kills if not k.affected]
        if idle:
            row.notes.append(f"{len(idle)} kill(s) cut no run (the process was between jobs)")

    def generation_kills(self, sources):
        args = self.args
        row = Row("2. generation worker SIGKILLed 2 times (pool process, main process)", "a 100-step pipeline (50 i2i + 50 i2v)")
        responses = Responses()
        before = self.stack.logs()
        start = time.time()
        with self.web.api() as api:
            body = {"name": "faults: 100 steps", "sources": sources[:10], "prompts": PROMPTS, **PIPELINE}
            response = self.web.call(responses, "new pipeline", lambda: api.post("/api/pipelines", json=body))
        if response is None or response.status_code != 202:
            raise SystemExit(f"POST /api/pipelines answered {response and response.status_code}: {response and response.text[:500]}")
        pipeline = response.json()["id"]
        visitor = Visitor(self.web, self.pictures, responses, uploads=False)
        visitor.start()

        def completed():
            return self.db.value(f"SELECT count(*) FROM {STEPS} WHERE pipeline_id = %s AND status = 'completed'", pipeline)

        kills = []
        for target, what in ((20, "pool child"), (60, "main process")):
            wait_for(lambda: completed() >= target, 600, pause=0.2)
            kills.append(self.kill("generation", what, STEPS, self.busy("generation", what, STEPS)))

        def active():
            return self.db.value(
                f"SELECT count(*) FROM {STEPS} WHERE pipeline_id = %s AND status IN ('pending', 'queued', 'running')",
                pipeline,
            ) + (self.db.value("SELECT count(*) FROM jobs_step WHERE pipeline_id = %s", pipeline) < 100)

        self.drain(active, args.max_wait, args.stall)
        visitor.stop()
        row.start, row.wall = start, time.time() - start
        row.crashes = [crash for crash in self.stack.supervisor.crashes if crash[0] >= start]
        counts = dict(self.db.rows(f"SELECT status, count(*) FROM {STEPS} WHERE pipeline_id = %s GROUP BY status", pipeline))
        planned = self.db.value("SELECT planned_steps FROM jobs_pipeline WHERE id = %s", pipeline)
        row.total, row.done = planned, counts.get("completed", 0)
        row.stuck = sum(counts.get(s, 0) for s in ("pending", "queued", "running"))
        row.lost = counts.get("failed", 0) + counts.get("cancelled", 0) + max(0, planned - sum(counts.values()))
        twice = self.db.value(
            "SELECT count(*) FROM (SELECT row_id FROM bench_event WHERE tbl = %s AND new_status = 'completed' AND row_id IN "
            f"(SELECT id FROM {STEPS} WHERE pipeline_id = %s) GROUP BY row_id HAVING count(*) > 1) t", STEPS, pipeline,
        )  # fmt: skip
        extra_outputs = self.db.value(
            "SELECT count(*) FROM (SELECT step_id FROM jobs_output WHERE pipeline_id = %s GROUP BY step_id HAVING count(*) > 1) t",
            pipeline,
        )  # fmt: skip
        outputs = self.db.value("SELECT count(*) FROM jobs_output WHERE pipeline_id = %s", pipeline)
        retried = self.db.value(f"SELECT count(*) FROM {STEPS} WHERE pipeline_id = %s AND attempts > 1", pipeline)
        status = self.db.value("SELECT status FROM jobs_pipeline WHERE id = %s", pipeline)
        row.duplicated = max(twice, extra_outputs)
        row.notes.append(
            f"pipeline {status}; {outputs} outputs for {row.done} completed steps; {twice} steps completed twice, "
            f"{extra_outputs} steps with more than one output; {retried} steps ran more than one attempt"
        )
        outputs_jobs = self.job_counts([a for (a,) in self.db.rows("SELECT asset_id FROM jobs_output WHERE pipeline_id = %s", pipeline)])
        row.notes.append(f"renditions and posters of the outputs: {outputs_jobs}")
        self.finish_kills(row, kills)
        row.http = responses.counts()
        self.log_check(row, before, self.completions_between(start, time.time()))
        return row

    def database_outage(self):
        args = self.args
        row = Row(f"3. PostgreSQL stopped {args.outage_seconds} s", f"{args.outage_images} uploads queued, then a client uploading")
        responses = Responses()
        before = self.stack.logs()
        start = time.time()
        for uploader in upload_backlog(self.web, self.pictures, responses, args.outage_images):
            uploader.join(timeout=600)
        visitor = Visitor(self.web, self.pictures, responses)
        visitor.start()
        time.sleep(3)
        waiting = self.waiting(responses.accepted)
        stopped = time.time()
        self.stack.pg.stop()
        log(f"PostgreSQL stopped; jobs waiting: { {q: len(ids) for q, ids in waiting.items()} }")
        time.sleep(args.outage_seconds)
        self.stack.pg.start()
        back = time.time()
        log(f"PostgreSQL started again after {back - stopped:.1f} s")
        during = responses.counts(stopped, back)
        time.sleep(30)
        visitor.stop()
        self.drain(lambda: self.active_jobs(responses.accepted), args.max_wait, args.stall)
        row.start, row.wall = start, time.time() - start
        row.crashes = [crash for crash in self.stack.supervisor.crashes if crash[0] >= start]
        self.media_outcome(row, responses.accepted)
        row.recovery, note = self.resumed_after(back, waiting)
        row.recovery_note = f"from the database's return ({note})"
        row.http = responses.counts()
        row.notes.append(
            f"during the outage: {during['requests']} requests, {during['503']} answered 503, {during['5xx']} other 5xx, "
            f"{during['errors']} connection errors"
        )
        self.log_check(row, before, self.completions_between(start, time.time()))
        return row

    def broker_restart(self, persistent):
        args = self.args
        label = "with append-only persistence" if persistent else "without persistence"
        row = Row(f"{5 if persistent else 4}. broker Redis restarted {label}", f"{args.restart_images} uploads queued, uploads arriving")
        if persistent:
            self.switch_broker(aof_dir=self.stack.root / "redis-aof")
        responses = Responses()
        before = self.stack.logs()
        start = time.time()
        for uploader in upload_backlog(self.web, self.pictures, responses, args.restart_images):
            uploader.join(timeout=600)
        visitor = Visitor(self.web, self.pictures, responses)
        visitor.start()
        time.sleep(3)
        waiting = self.waiting(responses.accepted)
        held = self.broker_holds()
        crashed = time.time()
        self.stack.redis.stop()
        time.sleep(1)  # a restart policy's delay
        self.stack.redis.start()
        back = time.time()
        log(f"Redis restarted {label}: it held {held} messages; it holds {self.broker_holds()} now")
        time.sleep(30)
        visitor.stop()
        self.drain(lambda: self.active_jobs(responses.accepted), args.max_wait, args.stall)
        row.start, row.wall = start, time.time() - start
        row.crashes = [crash for crash in self.stack.supervisor.crashes if crash[0] >= start]
        self.media_outcome(row, responses.accepted)
        row.recovery, note = self.resumed_after(back, waiting)
        row.recovery_note = f"from the broker's return ({note})"
        row.http = responses.counts()
        resent = self.resends(crashed)
        row.notes.append(
            f"the broker held {held} messages before the crash; the sweeper re-sent lost messages: "
            + (", ".join(f"{n} at +{at - back:.0f} s" for at, n in resent) if resent else "none")
        )
        self.log_check(row, before, self.completions_between(start, time.time()))
        return row

    def broker_holds(self):
        import redis

        client = redis.Redis(port=self.stack.redis.port, socket_connect_timeout=2)
        total = 0
        for key in client.scan_iter(count=1000):
            name = key.decode(errors="replace")
            if name.split("\x06")[0] in (*MEDIA_QUEUES, "generation") and client.type(key) == b"list":
                total += client.llen(key)
        return total + client.hlen("unacked")

    def resends(self, since):
        found = []
        for name, text in self.stack.logs().items():
            if not name.startswith("control"):
                continue
            for stamp, millis, n in RESENT.findall(text):
                at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
                if at >= since:
                    found.append((at, int(n)))
        return sorted(found)

    def switch_broker(self, aof_dir):
        """Between phases, with nothing queued: the same port, now with append-only persistence."""
        from i2v.testing.workers import PrivateRedis

        aof_dir.mkdir(exist_ok=True)
        self.stack.redis.stop()
        self.stack.redis = PrivateRedis(self.stack.redis.port, aof_dir=aof_dir)
        self.stack.redis.start()
        time.sleep(15)  # the workers and beat reconnect (they retry every few seconds)

    def web_restart(self):
        row = Row("6. web restarted (gunicorn HUP, then stopped and started 2 s later)", "a client uploading and browsing")
        responses = Responses()
        before = self.stack.logs()
        start = time.time()
        visitor = Visitor(self.web, self.pictures, responses)
        visitor.start()
        time.sleep(5)
        reloaded = time.time()
        os.kill(self.stack.procs["web"].pid, signal.SIGHUP)
        time.sleep(10)
        reload_counts = responses.counts(reloaded, time.time())
        stopped = time.time()
        web = self.stack.procs["web"]
        self.stack.supervisor.expect("web")
        web.send_signal(signal.SIGTERM)  # a deploy: the restart policy starts it again 2 s after it exits
        self.stack.restarted("web", web)
        back = time.time()
        time.sleep(10)
        visitor.stop()
        self.drain(lambda: self.active_jobs(responses.accepted), self.args.max_wait, self.args.stall)
        row.start, row.wall = start, time.time() - start
        row.crashes = [crash for crash in self.stack.supervisor.crashes if crash[0] >= start]
        self.media_outcome(row, responses.accepted)
        row.recovery = back - stopped
        row.recovery_note = "SIGTERM to the new gunicorn answering (graceful stop, 2 s, start)"
        row.http = responses.counts()
        down = responses.counts(stopped, back)
        row.notes.append(
            f"during the HUP reload: {reload_counts['requests']} requests, {reload_counts['errors']} connection errors, "
            f"{reload_counts['5xx'] + reload_counts['503']} 5xx; while stopped: {down['errors']} connection errors"
        )
        self.log_check(row, before, self.completions_between(start, time.time()))
        return row


# --- set-up --------------------------------------------------------------------------------------


def check_prerequisites():
    from i2v.testing.workers import PrivatePostgres

    if os.geteuid() != 0 or shutil.which("su") is None:
        raise SystemExit("Run as root: the private PostgreSQL cluster is made with `su postgres -c initdb`.")
    if not (PrivatePostgres.BIN / "initdb").exists():
        raise SystemExit(f"PostgreSQL 15's server binaries are needed in {PrivatePostgres.BIN}.")
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is needed for the private broker.")


def production_environment(root, pg, broker_url, cache_url):
    """The children's environment: the bench's servers, and no override of the work-queue timings."""
    for name in list(os.environ):
        if name.startswith(("WORK_", "PROCESSING_", "GENERATION_", "CELERY_")) or name in (
            "I2V_TEST_TASK_DELAY", "LIST_CACHE", "MEDIA_ROOT", "STATIC_ROOT", "DEBUG",
        ):  # fmt: skip
            del os.environ[name]
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "i2v.settings", "DATABASE_URL": pg.url, "REDIS_URL": cache_url,
        "CELERY_BROKER_URL": broker_url, "VAR_DIR": str(root / "var"), "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "INFO", "SERVER_TIMING": "0",
        # The backlog is uploaded faster than a person's limit (300 a minute) allows: measure the
        # recovery, not the limiter.
        "RATE_LIMITS": "0",
    })  # fmt: skip


def manage(stack, *args):
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=stack.cluster.env(), capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def make_user(stack, username, password):
    return manage(
        stack, "shell", "--no-imports", "-c",
        "from django.contrib.auth import get_user_model; from i2v.models import ApiToken; "
        f"print(ApiToken.issue(get_user_model().objects.create_user({username!r}, password={password!r})))",
    ).splitlines()[-1]  # fmt: skip


def timings():
    from django.conf import settings

    return (
        f"WORK_LEASE_SECONDS={settings.WORK_LEASE_SECONDS}, WORK_HEARTBEAT_SECONDS={settings.WORK_HEARTBEAT_SECONDS}, "
        f"WORK_SWEEP_SECONDS={settings.WORK_SWEEP_SECONDS}, WORK_RESEND_SECONDS={settings.WORK_RESEND_SECONDS}, "
        f"WORK_DB_WAIT_SECONDS={settings.WORK_DB_WAIT_SECONDS}, broker visibility timeout "
        f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('visibility_timeout')} s"
    )


# --- report --------------------------------------------------------------------------------------


def seconds(value):
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "never"
    return f"{value:.1f} s"


def report(args, rows, kills, started, load_before, load_after, settings_line):
    total = time.time() - started
    print(f"\n`python bench/faults.py {' '.join(sys.argv[1:])}` (or `make bench-faults`), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {os.cpu_count()} cores; "
          f"load average before {load_before}, after {load_after}. Production timings: {settings_line}.\n")  # fmt: skip
    print("| fault | work | done | lost | duplicated | stuck | 5xx (not 503) | 503 | connection errors | "
          "processes that crashed | worst recovery | wall |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        http = row.http
        crashed = ", ".join(role for _, role, _ in row.crashes) or "0"
        print(f"| {row.fault} | {row.work} | {row.done:,} of {row.total:,} | {row.lost} | {row.duplicated} | {row.stuck} | "
              f"{http.get('5xx', 0)} | {http.get('503', 0)} | {http.get('errors', 0)} | {crashed} | "
              f"{seconds(row.recovery)} | {row.wall:.0f} s |")  # fmt: skip
    print(f"\nTotal wall time: {total / 60:.1f} min.\n")
    print("| kill | process | runs it held | runs cut off | recovered after | per run cut off: queued again / "
          "claimed again | messages it left unacknowledged (rows running / queued / done) | its queued rows done after |")
    print("| --- | --- | ---: | ---: | ---: | --- | --- | ---: |")
    for n, kill in enumerate(kills, 1):
        states = [status for _, status in kill.orphans]
        running = sum(s in LEASED.values() for s in states)
        done = sum(s in ("completed", "failed") for s in states)
        queued = len(states) - running - done
        left = f"{len(states)} ({running} / {queued} / {done})" if kill.what == "main process" else "n/a"
        timeline = ", ".join(f"{seconds(queued)} / {seconds(claimed)}" for queued, claimed in kill.timeline) or "n/a"
        print(f"| {n}. {kill.role} worker | {kill.what} | {len(kill.held)} | {kill.affected} | {seconds(kill.recovered)} | "
              f"{timeline} | {left} | {seconds(kill.orphans_done)} |")
    print()
    for row in rows:
        crashes = [f"the {role} worker exited by itself at +{at - row.start:.0f} s ({reason}); "
                   f"the restart policy started it again {RESTART_DELAY} s later" for at, role, reason in row.crashes]
        print(f"- {row.fault}: recovery measured {row.recovery_note}; requests {row.http.get('requests', 0)}. "
              + "; ".join([*crashes, *row.notes]) + ".")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="uploads of the media-kill backlog")
    parser.add_argument("--outage-images", type=int, default=200, help="uploads queued before the database stops")
    parser.add_argument("--outage-seconds", type=int, default=20)
    parser.add_argument("--restart-images", type=int, default=300, help="uploads queued before the broker restarts")
    parser.add_argument("--max-wait", type=int, default=600, help="seconds a phase may take to drain, at most")
    parser.add_argument("--stall", type=int, default=180, help="seconds without progress that end a phase's wait")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="phases to run, e.g. 1,3")
    args = parser.parse_args()
    phases = {int(p) for p in args.only.split(",")}
    args.max_wait = max(60, min(args.max_wait, 1800))
    check_prerequisites()
    from i2v.testing.workers import PrivatePostgres, PrivateRedis, free_port

    root = Path(tempfile.mkdtemp(prefix="i2v-faults-", dir="/tmp"))
    pg = PrivatePostgres(free_port())
    redis_server = PrivateRedis(free_port())
    production_environment(root, pg, redis_server.url, f"redis://127.0.0.1:{redis_server.port}/1")
    stack = Stack(root, pg, redis_server, free_port())
    started = time.time()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    log(f"working in {root}; PostgreSQL on port {pg.port}, Redis on {redis_server.port}")
    try:
        pg.init()
        redis_server.start()
        manage(stack, "migrate", "--noinput", "-v0")
        manage(stack, "collectstatic", "--noinput", "-v0")
        db = Db(pg.url)
        db.script(AUDIT_SQL)
        token = make_user(stack, "faults", "faults-password-1")
        settings_line = timings()
        log(settings_line)
        stack.start()
        pictures = Pictures()
        bench = Bench(args, stack, db, Web(stack.base, token, "faults", "faults-password-1"), pictures)
        rows, sources = [], []
        if 1 in phases:
            log("1. media kills")
            row, accepted = bench.media_kills()
            rows.append(row)
            sources = accepted
        if 2 in phases:
            log("2. generation kills")
            if len(sources) < 10:
                responses = Responses()
                for uploader in upload_backlog(bench.web, pictures, responses, 10):
                    uploader.join(timeout=120)
                sources = responses.accepted
            rows.append(bench.generation_kills(sources))
        if 3 in phases:
            log("3. database outage")
            rows.append(bench.database_outage())
        if 4 in phases:
            log("4. broker restart without persistence")
            rows.append(bench.broker_restart(persistent=False))
        if 5 in phases:
            log("5. broker restart with persistence")
            rows.append(bench.broker_restart(persistent=True))
        if 6 in phases:
            log("6. web restart")
            rows.append(bench.web_restart())
        load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        report(args, rows, bench.kills, started, load_before, load_after, settings_line)
    finally:
        stack.stop()
        stack.redis.stop()
        pg.destroy()
        if os.environ.get("KEEP_FAULTS_DIR"):
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
