"""A fake of OpenAI's Images API (image edits), written from OpenAI's API reference:

    POST /v1/images/edits   multipart/form-data: image (a file), prompt, model, n, quality (low | medium |
                            high | auto), size (1024x1024 | 1536x1024 | 1024x1536 | auto)
        -> 200 {"created", "data": [{"b64_json"}], "quality", "size", "output_format",
                "usage": {"total_tokens", "input_tokens", "output_tokens",
                          "input_tokens_details": {"text_tokens", "image_tokens"}}}
           with the request's id in the x-request-id header.

Synchronous: the answer is the image. Errors are {"error": {"message", "type", "param", "code"}}.
Output tokens follow the table in OpenAI's image generation guide (272 for a low-quality 1024x1024
image, 1056 medium, 4160 high, and so on), so the cost a test computes is the one OpenAI would bill.
"""

import base64
import email.parser
import email.policy
import time
from contextlib import contextmanager

from ..contract import Harness as ContractHarness
from .server import FakeServer, Reply, png

KEY = "fake-key"
MODELS = ("gpt-image-1", "gpt-image-1-mini")
SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
QUALITIES = ("low", "medium", "high", "auto")
OUTPUT_TOKENS = {
    ("low", "1024x1024"): 272, ("low", "1024x1536"): 408, ("low", "1536x1024"): 400,
    ("medium", "1024x1024"): 1056, ("medium", "1024x1536"): 1584, ("medium", "1536x1024"): 1568,
    ("high", "1024x1024"): 4160, ("high", "1024x1536"): 6240, ("high", "1536x1024"): 6208,
}  # fmt: skip
IMAGE_TOKENS = 323  # what one input image costs in tokens, about


def error(status, message, kind="invalid_request_error", param=None, code=None):
    return Reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


def form_fields(content_type, body):
    """{name: str, or bytes for files} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[name] = payload if part.get_filename() else payload.decode()
    return fields


def output_tokens(quality, size):
    quality = "medium" if quality == "auto" else quality
    return OUTPUT_TOKENS[(quality, "1024x1024" if size == "auto" else size)]


class FakeOpenAI(FakeServer):
    routes = (("POST", r"/v1/images/edits", "edit"),)

    def configure(self, settings):
        settings.OPENAI_API_KEY = KEY
        settings.OPENAI_BASE_URL = f"{self.url}/v1"

    def edit(self, match, query, body, headers):
        if headers.get("Authorization") != f"Bearer {KEY}":
            return error(401, "Incorrect API key provided.", code="invalid_api_key")
        content_type = headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            return error(400, "The body must be multipart/form-data.")
        fields = form_fields(content_type, body)
        for name in ("image", "prompt"):
            if not fields.get(name):
                return error(400, f"Missing required parameter: '{name}'.", param=name)
        quality, size = fields.get("quality", "auto"), fields.get("size", "auto")
        if fields.get("model") not in MODELS:
            return error(400, f"Invalid value for 'model': {fields.get('model')!r}.", param="model")
        if quality not in QUALITIES or size not in SIZES:
            return error(400, "Invalid value for 'quality' or 'size'.", param="size")
        request = self.accept("images/edits", {**fields, "image": len(fields["image"])})
        plan = request.plan
        if plan.outcome == "failed":
            return error(400, plan.error, code="moderation_blocked")
        image = b"\0" * plan.file_size if plan.file_size else plan.file if plan.file is not None else png()
        text_tokens = len(fields["prompt"].split())
        made = output_tokens(quality, size)
        usage = {
            "total_tokens": text_tokens + IMAGE_TOKENS + made, "input_tokens": text_tokens + IMAGE_TOKENS,
            "output_tokens": made, "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": IMAGE_TOKENS},
        }  # fmt: skip
        answer = {
            "created": int(time.time()), "data": [{"b64_json": base64.b64encode(image).decode()}], "background": "opaque",
            "output_format": "png", "quality": "medium" if quality == "auto" else quality, "size": size, "usage": usage,
        }  # fmt: skip
        return Reply(200, answer, {"x-request-id": f"req_{request.id}"})


class Harness(ContractHarness):
    """The contract suite's handle on OpenAI's fake."""

    name, model, synchronous = "openai", "gpt-image-1", True

    @classmethod
    @contextmanager
    def started(cls, settings):
        with FakeOpenAI() as fake:
            fake.configure(settings)
            # The time a real edit may take is what the unknown-outcome case waits out.
            settings.OPENAI_TIMEOUT_SECONDS = settings.GENERATION_HTTP_TIMEOUT_SECONDS
            yield cls(fake)

    def succeed(self, queue=2, progress=(40, 80), video=False):
        self.fake.plan()

    def fail(self, message):
        self.fake.plan(outcome="failed", error=message)

    def refuse(self, status, retry_after=None, message="no"):
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        kind = {429: "rate_limit_exceeded"}.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.fake.force("POST", r"^/v1/images/edits", Reply(status, error(status, message, kind).body, headers))

    def hang(self, seconds):
        # OpenAI makes the image, but the answer comes too late for the client.
        real = self.fake.edit

        def late(*args):
            reply = real(*args)
            reply.delay = seconds
            self.fake.edit = real
            return reply

        self.fake.edit = late

    def oversized(self, size):
        self.fake.plan(file_size=size)

    def not_an_image(self):
        self.fake.plan(file=b"<html><body>Rate limited</body></html>", content_type="text/html")

    @property
    def cancelled(self):
        return []  # nothing runs at OpenAI after its answer
