"""A fake of the Gemini API's generateContent for image models, written from
Google's documentation (ai.google.dev/api/generate-content, /gemini-api/docs/image-generation):

    POST /v1beta/models/{model}:generateContent          header x-goog-api-key
      {"contents": [{"parts": [{"inlineData": {"mimeType", "data"}}, {"text"}]}], "generationConfig": {...}}
    -> 200 {"candidates": [{"content": {"role": "model", "parts": [{"inlineData": {"mimeType", "data"}}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                              "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]},
            "modelVersion", "responseId"}
    -> 200 {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {...}}          a blocked prompt
    -> 200 a candidate with "finishReason": "IMAGE_SAFETY" / "NO_IMAGE" and no image      the model declined
    -> 4xx/5xx {"error": {"code", "message", "status", "details"}}; a 429 says when to come
       back in a google.rpc.RetryInfo detail ("retryDelay": "30s"), not in a header.

Synchronous: the image is in the answer. Each answered call is one accepted
request (`submissions`).
"""

import base64
import json
from contextlib import contextmanager

from ..contract import Harness as ContractHarness
from .server import FakeServer, Reply

KEY = "fake-key"
IMAGE_TOKENS = 1290  # what Google bills an output image of up to 1024 px
STATUS = {
    400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def error(code, message, details=()):
    return Reply(code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"), "details": list(details)}})


class FakeGemini(FakeServer):
    routes = (("POST", r"/v1beta/models/(?P<model>[^/:]+):generateContent", "generate"),)

    def configure(self, settings):
        settings.GEMINI_API_KEY = KEY
        settings.GEMINI_BASE_URL = self.url
        settings.GEMINI_TIMEOUT_SECONDS = settings.GENERATION_HTTP_TIMEOUT_SECONDS

    def generate(self, match, query, body, headers):
        if headers.get("x-goog-api-key") != KEY:
            # Google answers a bad key with 400, not 401.
            return error(400, "API key not valid. Please pass a valid API key.")
        try:
            payload = json.loads(body)
            parts = payload["contents"][0]["parts"]
        except (ValueError, KeyError, IndexError, TypeError):
            return error(400, "Invalid JSON payload received.")
        images = [p for p in parts if isinstance(p, dict) and (p.get("inlineData") or p.get("inline_data"))]
        texts = [p["text"] for p in parts if isinstance(p, dict) and p.get("text")]
        if not texts:
            return error(400, "* GenerateContentRequest.contents: contents is not specified")
        request = self.accept(match["model"], payload)
        usage = {
            "promptTokenCount": 258 * len(images) + len(" ".join(texts)) // 4,
            "candidatesTokenCount": 0, "totalTokenCount": 0,
        }  # fmt: skip
        plan = request.plan
        if plan.outcome == "blocked":
            return Reply(200, {"promptFeedback": {"blockReason": plan.error}, "usageMetadata": usage, "responseId": request.id})
        if plan.outcome == "failed":
            # The model declined: a candidate without an image, its reason, and a few words.
            candidate = {"content": {"role": "model", "parts": [{"text": "I can't make that image."}]}, "finishReason": plan.error, "index": 0}
            return Reply(200, {"candidates": [candidate], "usageMetadata": usage, "responseId": request.id})
        data, content_type, size = self.files[f"/files/{request.id}"]
        if size:
            data = b"\0" * size
        usage |= {
            "candidatesTokenCount": IMAGE_TOKENS, "totalTokenCount": usage["promptTokenCount"] + IMAGE_TOKENS,
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": IMAGE_TOKENS}],
        }  # fmt: skip
        image = {"inlineData": {"mimeType": content_type, "data": base64.b64encode(data).decode("ascii")}}
        candidate = {"content": {"role": "model", "parts": [image]}, "finishReason": "STOP", "index": 0}
        return Reply(200, {"candidates": [candidate], "usageMetadata": usage, "modelVersion": match["model"], "responseId": request.id})


class Harness(ContractHarness):
    """The contract suite's handle on Gemini's fake."""

    name, model, synchronous = "gemini", "gemini-flash-image", True

    @classmethod
    @contextmanager
    def started(cls, settings):
        with FakeGemini() as fake:
            fake.configure(settings)
            yield cls(fake)

    def succeed(self, queue=2, progress=(40, 80), video=False):
        self.fake.plan()  # synchronous: no queue, no progress, the image in the answer

    def fail(self, message):
        self.fake.plan(outcome="failed", error="NO_IMAGE")

    def block(self, reason="SAFETY"):
        """The next request's prompt is blocked by Google's filters."""
        self.fake.plan(outcome="blocked", error=reason)

    def refuse(self, status, retry_after=None, message="no"):
        # Google says 400 INVALID_ARGUMENT where others say 422.
        status = 400 if status == 422 else status
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}] if retry_after is not None else []
        self.fake.force("POST", r":generateContent$", error(status, message, details))

    def hang(self, seconds):
        # Google makes the image, but the answer comes too late for the client.
        real = self.fake.generate

        def late(*args):
            reply = real(*args)
            reply.delay = seconds
            self.fake.generate = real
            return reply

        self.fake.generate = late

    def oversized(self, size):
        self.fake.plan(file_size=size)

    def not_an_image(self):
        self.fake.plan(file=b"<html><body>Rate limited</body></html>", content_type="image/png")

    @property
    def cancelled(self):
        return []  # nothing runs after the answer, so nothing is ever cancelled
