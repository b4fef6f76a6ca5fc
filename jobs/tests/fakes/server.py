"""What every fake provider server shares: a threaded HTTP server on a free
loopback port, every call recorded, files served, and answers a test can force.

A provider's fake (fal.py, ...) subclasses FakeServer and routes its own API.
Each request it accepts is a FakeRequest whose life the test scripts (`Plan`):
how long it waits in the queue, the progress it reports, how it ends, what file
it makes. Two clocks: by default a request moves on one step per status check
(deterministic tests); with `seconds` set it moves with wall time, and at most
`concurrency` requests run at once, the rest queue (the bench's provider).
"""

import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


@dataclass
class Reply:
    status: int
    body: object = None  # a dict/list is sent as JSON, bytes as they are
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Call:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes


@dataclass
class Plan:
    """How one accepted request will go."""

    queue: int = 1  # status checks answered "queued" (positions counting down)
    progress: tuple = (50,)  # then "running" at these percentages
    outcome: str = "completed"  # completed | failed
    error: str = "The model failed."
    file: bytes | None = None  # the output; a small PNG by default
    content_type: str = "image/png"
    file_size: int | None = None  # serve this many bytes instead (an oversized output)


@dataclass
class FakeRequest:
    id: str
    endpoint: str
    payload: dict
    plan: Plan
    webhook: str | None = None
    checks: int = 0
    accepted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    cancelled: bool = False


def mp4():
    """A real, tiny H.264 MP4 (made by the media tests' helper)."""
    from media_processing.tests.conftest import tiny_mp4

    return tiny_mp4()


def png(size=(32, 24), colour=(200, 80, 40)):
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


class FakeServer:
    routes = ()  # (method, regex, handler name)

    def __init__(self, seconds=None, concurrency=None):
        self.calls = []
        self.requests = {}
        self.order = []  # request ids in the order they were accepted
        self.plans = []  # plans for the next submissions, in order
        self.forced = []  # [method, regex, Reply, times left]
        self.files = {}  # path -> (bytes, content type, size)
        self.seconds = seconds
        self.concurrency = concurrency
        self.lock = threading.RLock()
        self._count = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.server.daemon_threads = True
        # A client that gave up (the timeout tests) leaves a broken pipe behind: not an error here.
        self.server.handle_error = lambda request, address: None
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- Scripting -------------------------------------------------------------------------

    def plan(self, **fields):
        """The next submission will go this way."""
        self.plans.append(Plan(**fields))

    def force(self, method, pattern, reply, times=1):
        """Answer the next `times` calls matching `pattern` with `reply` (times=None: always)."""
        self.forced.append([method, re.compile(pattern), reply, times])

    def calls_to(self, method, pattern):
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    @property
    def submissions(self):
        return len(self.order)

    def new_id(self):
        with self.lock:
            self._count += 1
            return f"req-{self._count:05d}"

    # --- Requests' life ----------------------------------------------------------------------

    def accept(self, endpoint, payload, webhook=None):
        with self.lock:
            request = FakeRequest(self.new_id(), endpoint, payload, self.plans.pop(0) if self.plans else Plan(), webhook)
            self.requests[request.id] = request
            self.order.append(request.id)
            file = request.plan.file if request.plan.file is not None else png()
            size = request.plan.file_size
            self.files[f"/files/{request.id}"] = (file, request.plan.content_type, size)
            if self.seconds is not None:
                self._start_waiting(time.monotonic())  # it starts at once if the account has room
            return request

    def state(self, request):
        """(state, queue position, progress) now, moving the request on one check (tick clock)
        or by wall time (seconds clock)."""
        with self.lock:
            if request.cancelled:
                return "cancelled", None, None
            if self.seconds is None:
                request.checks += 1
                plan, n = request.plan, request.checks
                if n <= plan.queue:
                    return "queued", plan.queue - n, None
                if n <= plan.queue + len(plan.progress):
                    return "running", None, plan.progress[n - plan.queue - 1]
                return plan.outcome, None, 100
            return self._by_clock(request)

    def _by_clock(self, request):
        now = time.monotonic()
        self._start_waiting(now)
        if request.started_at is None:
            waiting = [r for r in self.order if self.requests[r].started_at is None and not self.requests[r].cancelled]
            return "queued", waiting.index(request.id), None
        done = (now - request.started_at) / self.seconds
        if done >= 1:
            return request.plan.outcome, None, 100
        return "running", None, int(done * 100)

    def _start_waiting(self, now):
        """Start queued requests while fewer than `concurrency` run (the provider's account limit)."""
        running = [r for r in self.requests.values() if r.started_at is not None and not r.cancelled and now - r.started_at < self.seconds]
        free = (self.concurrency or 10**9) - len(running)
        for request_id in self.order:
            if free <= 0:
                break
            request = self.requests[request_id]
            if request.started_at is None and not request.cancelled:
                request.started_at = now
                free -= 1

    def peak_running(self):
        """The most requests that ran at the same moment (seconds clock)."""
        spans = sorted((r.started_at, r.started_at + self.seconds) for r in self.requests.values() if r.started_at)
        peak, ends = 0, []
        for start, end in spans:
            ends = [e for e in ends if e > start] + [end]
            peak = max(peak, len(ends))
        return peak

    # --- Serving ----------------------------------------------------------------------------

    def answer(self, handler, method):
        path, _, query = handler.path.partition("?")
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.calls.append(Call(method, path, query, dict(handler.headers), body))
            forced = self._forced(method, path)
        if forced:
            return forced
        if method == "GET" and path in self.files:
            data, content_type, size = self.files[path]
            if size:
                return Reply(200, b"\0" * size, {"Content-Type": content_type})
            return Reply(200, data, {"Content-Type": content_type})
        for route_method, pattern, name in self.routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return getattr(self, name)(match, query, body, handler.headers)
        return Reply(404, {"detail": f"No route for {method} {path}"})

    def _forced(self, method, path):
        for entry in self.forced:
            forced_method, pattern, reply, times = entry
            if forced_method == method and pattern.search(path) and (times is None or times > 0):
                if times is not None:
                    entry[3] -= 1
                return reply
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self, method):
        reply = self.server.fake.answer(self, method)
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            reply.headers.setdefault("Content-Type", "application/json")
        body = body or b""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")
