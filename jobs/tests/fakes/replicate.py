"""A fake of Replicate's HTTP API, written from Replicate's HTTP API reference:

    POST /v1/models/{owner}/{name}/predictions  {"input", "webhook", "webhook_events_filter"}
                                      -> 201, the prediction, "starting"
    GET  /v1/predictions/{id}         -> the prediction: "starting", "processing" (tqdm lines in "logs"),
                                         "succeeded" ("output": a URL, or a list of URLs for models whose
                                         output is a list), "failed" ("error") or "canceled"; "metrics" with
                                         "predict_time" once it has finished
    POST /v1/predictions/{id}/cancel  -> the prediction, "canceled"
    GET  /v1/predictions[?created_after=&created_before=&cursor=]
                                      -> {"next", "previous", "results"}: newest first, 100 a page

Errors are problem documents ({"title", "detail", "status"}). A webhook's body is the prediction, signed
as Replicate's webhook documentation says: headers webhook-id, webhook-timestamp and webhook-signature
("v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>", keyed with the base64 part of the "whsec_"
secret); `webhook_call()` hands one to a test.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

from django.db.backends.signals import connection_created

from ..contract import Harness as ContractHarness
from .server import FakeServer, Reply, mp4

TOKEN = "fake-token"
STATUS = {"queued": "starting", "running": "processing", "completed": "succeeded", "failed": "failed", "cancelled": "canceled"}
# Models whose output is a list of URLs rather than one URL.
LIST_OUTPUTS = {"bytedance/seedream-4"}
PAGE = 100


def problem(status, title, detail):
    return Reply(status, {"title": title, "detail": detail, "status": status})


class FakeReplicate(FakeServer):
    routes = (
        ("POST", r"/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions", "create"),
        ("GET", r"/v1/predictions", "list"),
        ("GET", r"/v1/predictions/(?P<id>[^/]+)", "get"),
        ("POST", r"/v1/predictions/(?P<id>[^/]+)/cancel", "cancel"),
    )

    def __init__(self, seconds=None, concurrency=None):
        super().__init__(seconds, concurrency)
        self.secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.cancelled = []
        self.created = {}  # prediction id -> when it was created

    def configure(self, settings):
        settings.REPLICATE_API_TOKEN = TOKEN
        settings.REPLICATE_BASE_URL = f"{self.url}/v1"
        settings.REPLICATE_WEBHOOK_SECRET = self.secret

    # --- API ---------------------------------------------------------------------------------

    def create(self, match, query, body, headers):
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        try:
            payload = json.loads(body)
        except ValueError:
            return problem(400, "Bad request", "The body is not JSON")
        given = payload.get("input") if isinstance(payload, dict) else None
        if not isinstance(given, dict) or not given.get("prompt"):
            return problem(422, "Input validation failed", "- input: prompt is required")
        with self.lock:
            request = self.accept(f"{match['owner']}/{match['name']}", given, payload.get("webhook"))
            self.created[request.id] = datetime.now(UTC)
        return Reply(201, self.prediction(request, "queued"))

    def get(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        state, _, progress = self.state(request)
        return Reply(200, self.prediction(request, state, progress))

    def cancel(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        with self.lock:
            request.cancelled = True
            self.cancelled.append(request.id)
        return Reply(200, self.prediction(request, "cancelled"))

    def list(self, match, query, body, headers):
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        params = {key: values[0] for key, values in parse_qs(query).items()}
        after, before = _time(params.get("created_after")), _time(params.get("created_before"))
        with self.lock:
            ids = [
                i for i in reversed(self.order)
                if (after is None or self.created[i] >= after) and (before is None or self.created[i] <= before)
            ]  # fmt: skip
            start = int(params.pop("cursor", 0))
            results = [self.prediction(self.requests[i], *self.peek(self.requests[i])) for i in ids[start : start + PAGE]]
        following = None
        if start + PAGE < len(ids):
            following = f"{self.url}/v1/predictions?{urlencode({**params, 'cursor': start + PAGE})}"
        return Reply(200, {"next": following, "previous": None, "results": results})

    def peek(self, request):
        """(state, progress) now, without moving the request on: a list is not a status check."""
        with self.lock:
            state, _, progress = self.state(request)
            if self.seconds is None:
                request.checks -= 1
            return state, progress

    def prediction(self, request, state, progress=None):
        url = f"{self.url}/v1/predictions/{request.id}"
        status = STATUS["cancelled" if request.cancelled else state]
        finished = status in ("succeeded", "failed", "canceled")
        created = self.created[request.id].isoformat().replace("+00:00", "Z")
        logs = ""
        if status == "processing" and progress is not None:
            logs = f"Loading the model\n{progress:3d}%|{'#' * (progress // 10):<10}| {progress}/100 [00:02<00:02, 25.00it/s]"
        return {
            "id": request.id, "model": request.endpoint, "version": "hidden", "input": request.payload,
            "logs": logs, "output": self.output(request) if status == "succeeded" else None, "data_removed": False,
            "error": request.plan.error if status == "failed" else None, "status": status, "source": "api",
            "created_at": created, "started_at": created if status != "starting" else None,
            "completed_at": created if finished else None,
            "urls": {"get": url, "cancel": f"{url}/cancel", "web": f"https://replicate.com/p/{request.id}"},
            "metrics": {"predict_time": 2.5, "total_time": 3.1} if finished else {},
        }  # fmt: skip

    def output(self, request):
        url = f"{self.url}/files/{request.id}"
        return [url] if request.endpoint in LIST_OUTPUTS else url

    # --- Webhooks -----------------------------------------------------------------------------

    def webhook_call(self, request_id, secret=None, timestamp=None):
        """(headers, body) of the signed webhook Replicate would send as the prediction finishes."""
        request = self.requests[request_id]
        body = json.dumps(self.prediction(request, "cancelled" if request.cancelled else request.plan.outcome)).encode()
        webhook_id = f"msg_{request.id}"
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        key = base64.b64decode((secret or self.secret).split("_", 1)[1])
        digest = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(digest).decode()
        headers = {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": signature}
        return headers, body


@contextmanager
def uncommitted_reads():
    """Let the poller's threads read what the test wrote. lookup() reads the requests table
    from those threads; SQLite test databases are in memory, shared between connections
    with table locks, so a thread could not read a table the test's open transaction wrote.
    (A real SQLite file runs in WAL mode, where readers see what was committed.)"""

    def allow(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA read_uncommitted = 1")

    connection_created.connect(allow, weak=False)
    try:
        yield
    finally:
        connection_created.disconnect(allow)


def _time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Harness(ContractHarness):
    """The contract suite's handle on Replicate's fake."""

    name, model, video_model = "replicate", "replicate-flux-kontext", "replicate-kling-2.1"
    webhooks, can_lookup, queue_positions = True, True, False

    @classmethod
    @contextmanager
    def started(cls, settings):
        with FakeReplicate() as fake, uncommitted_reads():
            fake.configure(settings)
            yield cls(fake)

    def succeed(self, queue=2, progress=(40, 80), video=False):
        if video:
            self.fake.plan(queue=queue, progress=progress, file=mp4(), content_type="video/mp4")
        else:
            self.fake.plan(queue=queue, progress=progress)

    def fail(self, message):
        self.fake.plan(outcome="failed", error=message)

    def refuse(self, status, retry_after=None, message="no"):
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fake.force("POST", r"^/v1/models/", Reply(status, problem(status, "Refused", message).body, headers))

    def hang(self, seconds):
        # Replicate creates the prediction, but the answer comes too late for the client.
        real = self.fake.create

        def late(*args):
            reply = real(*args)
            reply.delay = seconds
            self.fake.create = real
            return reply

        self.fake.create = late

    def oversized(self, size):
        self.fake.plan(queue=0, progress=(), file_size=size)

    def not_an_image(self):
        self.fake.plan(queue=0, progress=(), file=b"<html><body>Rate limited</body></html>", content_type="text/html")

    @property
    def cancelled(self):
        return list(self.fake.cancelled)

    def webhook(self, external_id):
        return self.fake.webhook_call(external_id)
