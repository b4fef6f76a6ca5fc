"""A fake fal queue API on 127.0.0.1, for the fal adapter's tests.

It speaks just enough of fal's queue protocol (submit, status, result, cancel)
and serves the output files itself, on a free port, from a thread. Each test
scripts it: the statuses a request goes through, the result, the files, and
forced answers to given calls (a 429, a 422, a reply slower than the client's
timeout). Every request it gets is recorded for the test to inspect.
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS_PATH = re.compile(r"^/(?P<app>.+)/requests/(?P<id>[^/]+)/status$")
RESULT_PATH = re.compile(r"^/(?P<app>.+)/requests/(?P<id>[^/]+)$")
CANCEL_PATH = re.compile(r"^/(?P<app>.+)/requests/(?P<id>[^/]+)/cancel$")


@dataclass
class Reply:
    status: int
    body: object = None  # a dict/list is sent as JSON, bytes as they are
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    content_length: bool = True


@dataclass
class Call:
    method: str
    path: str
    headers: dict
    body: object


class FakeFal:
    def __init__(self):
        self.statuses = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
        self.result = {}
        self.files = {}  # path -> Reply
        self.calls = []
        self._forced = []  # [method, path pattern, Reply, times left]
        self._polls = {}  # request id -> status polls answered
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.fake = self
        # A client that gave up (the timeout test) leaves a broken pipe behind: not an error here.
        self._server.handle_error = lambda request, address: None
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # --- Scripting, from the tests ---

    def add_file(self, name, data, content_type="image/png", content_length=True):
        """Serve `data` at /files/<name>; returns its URL."""
        self.files[f"/files/{name}"] = Reply(200, data, {"Content-Type": content_type}, content_length=content_length)
        return f"{self.url}/files/{name}"

    def force(self, method, pattern, reply, times=1):
        """Answer the next `times` calls whose path matches `pattern` (a regex) with `reply`."""
        self._forced.append([method, re.compile(pattern), reply, times])

    def requests_to(self, method, pattern):
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    # --- Serving ---

    def answer(self, method, path, headers, body):
        with self._lock:
            self.calls.append(Call(method, path, headers, body))
            forced = self._take_forced(method, path)
        if forced:
            return forced
        if method == "POST":
            return self._submit(path)
        if method == "PUT" and CANCEL_PATH.match(path):
            return Reply(202, {"status": "CANCELLATION_REQUESTED"})
        if method == "GET":
            return self._get(path)
        return Reply(405, {"detail": "Method Not Allowed"})

    def _take_forced(self, method, path):
        for entry in self._forced:
            if entry[0] == method and entry[1].search(path) and entry[3] > 0:
                entry[3] -= 1
                return entry[2]
        return None

    def _submit(self, path):
        with self._lock:
            request_id = f"req-{len(self.requests_to('POST', '.'))}"
        base = f"{self.url}/{'/'.join(path.strip('/').split('/')[:2])}/requests/{request_id}"
        return Reply(200, {
            "request_id": request_id, "status_url": f"{base}/status", "response_url": base,
            "cancel_url": f"{base}/cancel", "queue_position": 0,
        })  # fmt: skip

    def _get(self, path):
        if path in self.files:
            return self.files[path]
        if match := STATUS_PATH.match(path):
            return self._status(match["id"])
        if RESULT_PATH.match(path):
            return Reply(200, self.result)
        return Reply(404, {"detail": "Not Found"})

    def _status(self, request_id):
        with self._lock:
            n = self._polls[request_id] = self._polls.get(request_id, 0) + 1
        state = self.statuses[min(n, len(self.statuses)) - 1]
        body = {"status": state, "queue_position": 0 if state == "IN_QUEUE" else None}
        return Reply(200 if state == "COMPLETED" else 202, body)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def _serve(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        reply = self.server.fake.answer(method, self.path, dict(self.headers), body)
        if reply.delay:
            time.sleep(reply.delay)
        self._send(reply)

    def _send(self, reply):
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if reply.content_length:
            self.send_header("Content-Length", str(len(data)))
        # Without a length, the end of the body is the end of the connection (HTTP/1.0).
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # quiet test output
