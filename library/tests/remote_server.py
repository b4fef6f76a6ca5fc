"""A real HTTP server on loopback for the download tests (library/remote.py and
import_i2v --fetch-remote): each path answers a scripted series of responses,
and the server counts requests and the most it ever had in flight at once."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Reply:
    def __init__(self, status=200, body=b"", headers=None, length=True, delay=0.0):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.length = length  # False: no Content-Length, the body ends when the connection closes
        self.delay = delay


class RemoteServer:
    def __init__(self):
        self.routes = {}
        self.hits = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                server.handle(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path, *replies):
        """Serve `replies` in turn for `path`; the last one again and again."""
        self.routes[path] = list(replies)
        return self.url(path)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def handle(self, request):
        with self.lock:
            self.hits[request.path] = self.hits.get(request.path, 0) + 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            replies = self.routes.get(request.path) or [Reply(404, b"not found")]
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        time.sleep(reply.delay)
        # Out of flight before any of the answer goes: once a client has it (an empty
        # body arrives with the headers) it may send its next request before this
        # thread runs again, which counted one request too many in flight on a loaded
        # machine. A client over its bound still shows: its requests wait here together.
        self._landed()
        request.send_response(reply.status)
        for name, value in reply.headers.items():
            request.send_header(name, value)
        if reply.length:
            request.send_header("Content-Length", str(len(reply.body)))
        request.end_headers()
        request.wfile.write(reply.body)

    def _landed(self):
        with self.lock:
            self.in_flight -= 1

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def remote_server():
    server = RemoteServer()
    yield server
    server.close()
