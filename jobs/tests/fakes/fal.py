"""A fake of fal.ai's queue API, written from fal's documentation:

    POST /{endpoint}[?fal_webhook=URL]          -> {"request_id", "status_url", "response_url", "cancel_url", "queue_position"}
    GET  /{app}/requests/{id}/status[?logs=1]   -> {"status": "IN_QUEUE", "queue_position"} | {"status": "IN_PROGRESS", "logs"}
                                                   | {"status": "COMPLETED", "logs"[, "error"]}
    GET  /{app}/requests/{id}                   -> the output: {"images": [{"url", ...}]} or {"video": {"url", ...}}
    PUT  /{app}/requests/{id}/cancel            -> {"status": "CANCELLATION_REQUESTED"}
    GET  /.well-known/jwks.json                 -> its ED25519 public key (webhooks are signed with it)

A webhook is the documented body ({"request_id", "gateway_request_id", "status":
"OK" | "ERROR", "payload", "error"}) signed over request id, user id,
timestamp and the body's SHA-256; `webhook_call()` hands one to a test,
`send_webhooks=True` makes the server POST them itself when requests finish.
"""

import base64
import hashlib
import json
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qs

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..contract import Harness as ContractHarness
from .server import FakeServer, Reply, mp4

USER_ID = "fake-user"


class FakeFal(FakeServer):
    routes = (
        ("GET", r"/\.well-known/jwks\.json", "jwks"),
        ("GET", r"/(?P<app>.+)/requests/(?P<id>[^/]+)/status", "status"),
        ("PUT", r"/(?P<app>.+)/requests/(?P<id>[^/]+)/cancel", "cancel"),
        ("GET", r"/(?P<app>.+)/requests/(?P<id>[^/]+)", "response"),
        ("POST", r"/(?P<endpoint>.+)", "submit"),
    )

    def __init__(self, seconds=None, concurrency=None, send_webhooks=False):
        super().__init__(seconds, concurrency)
        self.key = Ed25519PrivateKey.generate()
        self.send_webhooks = send_webhooks
        self.cancelled = []
        self.webhooks_sent = []
        self._finished = set()

    def configure(self, settings):
        settings.FAL_KEY = "fake-key"
        settings.FAL_QUEUE_URL = self.url
        settings.FAL_JWKS_URL = f"{self.url}/.well-known/jwks.json"

    # --- API ---------------------------------------------------------------------------------

    def submit(self, match, query, body, headers):
        if headers.get("Authorization") != "Key fake-key":
            return Reply(401, {"detail": "Invalid API key"})
        try:
            payload = json.loads(body)
        except ValueError:
            return Reply(422, {"detail": "Body is not JSON"})
        if not payload.get("prompt"):
            return Reply(422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]})
        webhook = parse_qs(query).get("fal_webhook", [None])[0]
        request = self.accept(match["endpoint"], payload, webhook)
        base = f"{self.url}/{_app(match['endpoint'])}/requests/{request.id}"
        return Reply(200, {
            "request_id": request.id, "gateway_request_id": request.id, "status_url": f"{base}/status",
            "response_url": base, "cancel_url": f"{base}/cancel", "queue_position": request.plan.queue,
        })  # fmt: skip

    def status(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        state, position, progress = self.state(request)
        if state == "queued":
            return Reply(202, {"status": "IN_QUEUE", "queue_position": position})
        if state == "running":
            return Reply(202, {"status": "IN_PROGRESS", "logs": [{"message": f"Sampling: {progress}%"}]})
        self._finish(request, state)
        reply = {"status": "COMPLETED", "logs": [{"message": "done"}]}
        if state == "failed":
            reply["error"] = request.plan.error
        if state == "cancelled":
            reply["error"] = "Request was cancelled"
        return Reply(200, reply)

    def response(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        return Reply(200, self.output(request))

    def cancel(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        with self.lock:
            request.cancelled = True
            self.cancelled.append(request.id)
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    def jwks(self, match, query, body, headers):
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return Reply(200, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fake", "use": "sig"}]})

    def output(self, request):
        url = f"{self.url}/files/{request.id}"
        item = {"url": url, "content_type": request.plan.content_type, "file_name": "out"}
        return {"video": item} if request.plan.content_type.startswith("video/") else {"images": [item], "seed": 1}

    # --- Webhooks -----------------------------------------------------------------------------

    def webhook_call(self, request_id, key=None, timestamp=None):
        """(headers, body) of the signed webhook fal would send for a finished request."""
        request = self.requests[request_id]
        state = "cancelled" if request.cancelled else request.plan.outcome
        if state == "completed":
            message = {"request_id": request.id, "gateway_request_id": request.id, "status": "OK", "payload": self.output(request)}
        else:
            error = "Request was cancelled" if request.cancelled else request.plan.error
            message = {"request_id": request.id, "gateway_request_id": request.id, "status": "ERROR", "error": error, "payload": {"detail": error}}
        body = json.dumps(message).encode()
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        signed = "\n".join([request.id, USER_ID, stamp, hashlib.sha256(body).hexdigest()]).encode()
        signature = (key or self.key).sign(signed).hex()
        headers = {
            "X-Fal-Webhook-Request-Id": request.id, "X-Fal-Webhook-User-Id": USER_ID,
            "X-Fal-Webhook-Timestamp": stamp, "X-Fal-Webhook-Signature": signature,
        }  # fmt: skip
        return headers, body

    def _finish(self, request, state):
        with self.lock:
            if request.id in self._finished:
                return
            self._finished.add(request.id)
        if self.send_webhooks and request.webhook:
            threading.Thread(target=self._deliver, args=(request,), daemon=True).start()

    def _deliver(self, request):
        headers, body = self.webhook_call(request.id)
        try:
            response = httpx.post(request.webhook, content=body, headers={**headers, "Content-Type": "application/json"}, timeout=10)
            self.webhooks_sent.append((request.id, response.status_code))
        except httpx.HTTPError as exc:
            self.webhooks_sent.append((request.id, repr(exc)))

    def tick_webhooks(self):
        """Seconds clock: send the webhooks of requests that have finished by now."""
        for request in list(self.requests.values()):
            state, _, _ = self.state(request)
            if state not in ("queued", "running"):
                self._finish(request, state)


def _app(endpoint):
    parts = endpoint.split("/")
    return "/".join(parts[: 3 if parts[0] in ("workflows", "comfy") else 2])


class Harness(ContractHarness):
    """The contract suite's handle on fal's fake."""

    name, model, video_model, webhooks = "fal", "flux-kontext", "kling-2.1", True

    @classmethod
    @contextmanager
    def started(cls, settings):
        from jobs.providers import fal

        with FakeFal() as fake:
            fake.configure(settings)
            fal.forget_keys()
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
        self.fake.force("POST", r"^/fal-ai/", Reply(status, {"detail": message}, headers))

    def hang(self, seconds):
        # fal takes the request, but the answer comes too late for the client.
        real = self.fake.submit

        def late(*args):
            reply = real(*args)
            reply.delay = seconds
            self.fake.submit = real
            return reply

        self.fake.submit = late

    def oversized(self, size):
        self.fake.plan(queue=0, progress=(), file_size=size)

    def not_an_image(self):
        self.fake.plan(queue=0, progress=(), file=b"<html><body>Rate limited</body></html>", content_type="text/html")

    @property
    def cancelled(self):
        return list(self.fake.cancelled)

    def webhook(self, external_id):
        return self.fake.webhook_call(external_id)
