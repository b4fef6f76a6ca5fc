"""A fake ComfyUI server, written from the HTTP API in ComfyUI's server.py and
execution.py (the queue and history it keeps):

    POST /upload/image    multipart image=<file>, type, subfolder, overwrite -> {"name", "subfolder", "type": "input"}
    POST /prompt          {"prompt", "client_id", "prompt_id"} -> {"prompt_id", "number", "node_errors": {}}
                          400 {"error": {"type", "message", "details", "extra_info"}, "node_errors": {...}} when the
                          workflow doesn't validate (no output node, an input of the wrong type, an unknown image)
    GET  /queue           {"queue_running": [item], "queue_pending": [item, ...]}, item = [number, prompt_id,
                          prompt, extra_data, outputs_to_execute]; pending in heap order, not sorted
    POST /queue           {"delete": [prompt_id, ...]} removes waiting prompts (they never reach /history)
    GET  /history/{id}    {} while queued or running; then {id: {"prompt", "outputs", "status": {"status_str",
                          "completed", "messages": [[event, data], ...]}}}
    GET  /view?filename=&subfolder=&type=output    a saved file
    POST /interrupt       {"prompt_id"}: stops it only if it is the one running; with no body, whatever runs

It takes our prompt_id, as ComfyUI has since mid-2025; `takes_prompt_id=False`
is an older one that picks its own. Progress exists only on ComfyUI's
websocket, which this fake (like the provider) doesn't use. ComfyUI itself
never answers 429 or 503: the harness's refusals are what a reverse proxy in
front of it sends (nginx limit_req, a GPU host's gateway).

Tick clock: a prompt moves on one step per GET /history/{id} (the provider's
check); GET /queue shows where each was last seen, with other people's prompts
ahead of it to make up its scripted position.
"""

import itertools
import json
import mimetypes
import uuid
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from ..contract import Harness as ContractHarness
from .server import FakeServer, Reply, mp4

OUTPUT_NODES = {"SaveImage", "SaveVideo", "SaveAnimatedWEBP", "VHS_VideoCombine", "PreviewImage"}
# Inputs of ComfyUI's core nodes that validation converts to numbers (INT/FLOAT).
NUMBERS = {"seed", "noise_seed", "width", "height", "length", "batch_size", "steps", "fps", "cfg", "start_at_step", "end_at_step", "denoise"}
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "video/mp4": ".mp4", "video/webm": ".webm"}


def invalid(error_type, message, details="", node_errors=None):
    return Reply(400, {"error": {"type": error_type, "message": message, "details": details, "extra_info": {}}, "node_errors": node_errors or {}})


class FakeComfyUI(FakeServer):
    routes = (
        ("POST", r"/upload/image", "upload"),
        ("POST", r"/prompt", "prompt"),
        ("GET", r"/queue", "queue"),
        ("POST", r"/queue", "queue_edit"),
        ("GET", r"/history/(?P<id>[^/]+)", "history"),
        ("GET", r"/view", "view"),
        ("POST", r"/interrupt", "interrupt"),
    )

    def __init__(self, seconds=None, concurrency=None, takes_prompt_id=True):
        super().__init__(seconds, concurrency)
        self.takes_prompt_id = takes_prompt_id
        self.inputs = {}  # "subfolder/name" -> bytes, as LoadImage names them
        self.cancelled = []  # prompt ids taken out of the queue or interrupted
        self.interrupts = []  # the body of every /interrupt call ({} is a global one)
        self.stopped = {}  # prompt id -> "deleted" | "interrupted"
        self.last = {}  # prompt id -> (state, position, progress) as /history last moved it (tick clock)
        self.saved = {}  # (subfolder, filename) -> prompt id
        self._numbers = itertools.count(1)
        self._files = itertools.count(1)
        self._next_id = None

    def configure(self, settings):
        settings.COMFYUI_URL = self.url

    def new_id(self):
        with self.lock:
            if self._next_id:
                chosen, self._next_id = self._next_id, None
                return chosen
            return super().new_id()

    # --- API -------------------------------------------------------------------------------

    def upload(self, match, query, body, headers):
        fields = _form(headers.get("Content-Type", ""), body)
        if "image" not in fields or not fields["image"][0]:
            return Reply(400, b"")
        filename, data = fields["image"]
        subfolder = fields.get("subfolder", ("", b""))[1].decode()
        name = f"{subfolder}/{filename}" if subfolder else filename
        with self.lock:
            self.inputs[name] = data
        return Reply(200, {"name": filename, "subfolder": subfolder, "type": "input"})

    def prompt(self, match, query, body, headers):
        try:
            payload = json.loads(body)
        except ValueError:
            return Reply(400, b"")
        workflow = payload.get("prompt")
        if not isinstance(workflow, dict):
            return invalid("no_prompt", "No prompt provided", "No prompt provided")
        refused = self.validate(workflow)
        if refused:
            return refused
        with self.lock:
            chosen = payload.get("prompt_id") if self.takes_prompt_id else None
            self._next_id = str(chosen or uuid.uuid4())
            request = self.accept("prompt", payload)
            request.number = next(self._numbers)
        return Reply(200, {"prompt_id": request.id, "number": request.number, "node_errors": {}})

    def validate(self, workflow):
        """What ComfyUI's validate_prompt would refuse, for the core nodes our workflows use."""
        if not any(node.get("class_type") in OUTPUT_NODES for node in workflow.values() if isinstance(node, dict)):
            return invalid("prompt_no_outputs", "Prompt has no outputs")
        node_errors = {}
        for node_id, node in workflow.items():
            errors = []
            for key, value in (node.get("inputs") or {}).items():
                if isinstance(value, list):
                    if len(value) != 2 or str(value[0]) not in workflow:
                        errors.append({"type": "bad_linked_input", "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]", "details": key})
                elif key in NUMBERS and not isinstance(value, (int, float)):
                    errors.append({"type": "invalid_input_type", "message": "Failed to convert an input value to a INT value", "details": f"{key}, {value}"})
            if node.get("class_type") == "LoadImage" and node["inputs"].get("image") not in self.inputs:
                errors.append({"type": "custom_validation_failed", "message": "Custom validation failed for node", "details": f"image - Invalid image file: {node['inputs'].get('image')}"})
            if errors:
                node_errors[node_id] = {"errors": errors, "dependent_outputs": [], "class_type": node.get("class_type")}
        if node_errors:
            details = "\n".join(f"{e['message']}: {e['details']}" for n in node_errors.values() for e in n["errors"])
            return invalid("prompt_outputs_failed_validation", "Prompt outputs failed validation", details, node_errors)
        return None

    def queue(self, match, query, body, headers):
        running, waiting = [], []
        with self.lock:
            for request_id in self.order:
                request = self.requests[request_id]
                state, position, _ = self._seen(request)
                if state == "running":
                    running.append(self._item(request))
                elif state == "queued":
                    waiting.append((position, request))
            pending = []
            for position, request in sorted(waiting, key=lambda pair: pair[0]):
                while len(pending) < position:  # other people's prompts ahead of it
                    pending.append(f"someone-else-{len(pending)}")
                pending.append(request)
            items = [
                self._item(p, number=i) if not isinstance(p, str) else [float(i), p, {}, {"client_id": "other"}, []]
                for i, p in enumerate(pending)
            ]  # fmt: skip
        return Reply(200, {"queue_running": running, "queue_pending": list(reversed(items))})

    def queue_edit(self, match, query, body, headers):
        payload = json.loads(body or b"{}")
        with self.lock:
            for prompt_id in payload.get("delete") or []:
                request = self.requests.get(prompt_id)
                if request is not None and self._seen(request)[0] == "queued":
                    self._stop(request, "deleted")
        return Reply(200, b"")

    def history(self, match, query, body, headers):
        request = self.requests.get(match["id"])
        if request is None:
            return Reply(200, {})
        with self.lock:
            seen = self.state(request)
            if self.seconds is None and request.id not in self.stopped:
                self.last[request.id] = seen
            state = seen[0]
        if state in ("queued", "running") or self.stopped.get(request.id) == "deleted":
            return Reply(200, {})
        return Reply(200, {request.id: self.entry(request, state)})

    def view(self, match, query, body, headers):
        params = {key: values[0] for key, values in parse_qs(query).items()}
        if params.get("type", "output") != "output":
            return Reply(404, b"")
        request_id = self.saved.get((params.get("subfolder", ""), params.get("filename", "")))
        if request_id is None:
            return Reply(404, b"")
        data, _, size = self.files[f"/files/{request_id}"]
        content_type = mimetypes.guess_type(params["filename"])[0] or "application/octet-stream"
        return Reply(200, b"\0" * size if size else data, {"Content-Type": content_type})

    def interrupt(self, match, query, body, headers):
        payload = json.loads(body) if body else {}
        with self.lock:
            self.interrupts.append(payload)
            for request in self.requests.values():
                if self._seen(request)[0] == "running" and payload.get("prompt_id") in (None, request.id):
                    self._stop(request, "interrupted")
        return Reply(200, b"")

    # --- What it keeps -------------------------------------------------------------------------

    def entry(self, request, state):
        """The /history entry of a prompt that has run."""
        workflow = request.payload["prompt"]
        start = ["execution_start", {"prompt_id": request.id, "timestamp": 1}]
        if state == "cancelled":
            stopped = ["execution_interrupted", {"prompt_id": request.id, "node_id": self._node(workflow, "KSampler"), "node_type": "KSampler", "executed": []}]
            return {"prompt": self._item(request), "outputs": {}, "status": {"status_str": "error", "completed": False, "messages": [start, stopped]}}
        if state == "failed":
            error = {
                "prompt_id": request.id, "node_id": self._node(workflow, "KSampler"), "node_type": "KSampler", "executed": [],
                "exception_message": request.plan.error, "exception_type": "torch.OutOfMemoryError", "traceback": [],
            }  # fmt: skip
            return {"prompt": self._item(request), "outputs": {}, "status": {"status_str": "error", "completed": False, "messages": [start, ["execution_error", error]]}}
        save = next(node_id for node_id, node in workflow.items() if node.get("class_type") in OUTPUT_NODES)
        prefix = str(workflow[save]["inputs"].get("filename_prefix", "ComfyUI"))
        subfolder, _, stem = prefix.rpartition("/")
        with self.lock:
            key = next((k for k, v in self.saved.items() if v == request.id), None)
            if key is None:
                extension = EXTENSIONS.get(request.plan.content_type, ".png")
                key = (subfolder, f"{stem}_{next(self._files):05d}_{extension}")
                self.saved[key] = request.id
        output = {"images": [{"filename": key[1], "subfolder": key[0], "type": "output"}]}
        if key[1].endswith((".mp4", ".webm")):
            output["animated"] = [True]
        done = ["execution_success", {"prompt_id": request.id, "timestamp": 2}]
        return {"prompt": self._item(request), "outputs": {save: output}, "status": {"status_str": "success", "completed": True, "messages": [start, done]}}

    def _seen(self, request):
        """(state, position, progress) without moving the request on."""
        if request.cancelled:
            return "cancelled", None, None
        if self.seconds is not None:
            return self.state(request)
        return self.last.get(request.id, ("queued", request.plan.queue, None))

    def _stop(self, request, how):
        request.cancelled = True
        self.stopped[request.id] = how
        self.cancelled.append(request.id)

    def _item(self, request, number=None):
        number = float(request.number if number is None else number)
        return [number, request.id, request.payload["prompt"], {"client_id": request.payload.get("client_id")}, []]

    @staticmethod
    def _node(workflow, class_type):
        return next((node_id for node_id, node in workflow.items() if str(node.get("class_type", "")).startswith(class_type)), "1")


def _form(content_type, body):
    """{field: (filename, bytes)} of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


class Harness(ContractHarness):
    """The contract suite's handle on ComfyUI's fake, with the workflows the project ships."""

    name, model, video_model = "comfyui", "comfy-flux-kontext", "comfy-wan-2.2"
    can_lookup = True
    reports_progress = False  # only over its websocket

    @classmethod
    @contextmanager
    def started(cls, settings, **options):
        with FakeComfyUI(**options) as fake:
            fake.configure(settings)
            yield cls(fake)

    def succeed(self, queue=2, progress=(40, 80), video=False):
        if video:
            self.fake.plan(queue=queue, progress=progress, file=mp4(), content_type="video/mp4")
        else:
            self.fake.plan(queue=queue, progress=progress)

    def fail(self, message):
        self.fake.plan(queue=0, progress=(50,), outcome="failed", error=message)

    def refuse(self, status, retry_after=None, message="no"):
        if status in (400, 422):
            # ComfyUI's own refusal: the workflow didn't validate, and the node says why.
            node = {"errors": [{"type": "custom_validation_failed", "message": "Custom validation failed for node", "details": f"image - {message}"}],
                    "dependent_outputs": ["14"], "class_type": "LoadImage"}  # fmt: skip
            reply = invalid("prompt_outputs_failed_validation", "Prompt outputs failed validation", message, {"4": node})
        else:
            # What the proxy in front of it says: ComfyUI itself queues instead of refusing.
            headers = {"Content-Type": "text/html", **({"Retry-After": str(retry_after)} if retry_after is not None else {})}
            reply = Reply(status, f"<html><body><h1>{status}</h1>{message}</body></html>".encode(), headers)
        self.fake.force("POST", r"^/prompt$", reply)

    def hang(self, seconds):
        # ComfyUI queues it, but the answer comes too late for the client.
        real = self.fake.prompt

        def late(*args):
            reply = real(*args)
            reply.delay = seconds
            self.fake.prompt = real
            return reply

        self.fake.prompt = late

    def oversized(self, size):
        self.fake.plan(queue=0, progress=(), file_size=size)

    def not_an_image(self):
        self.fake.plan(queue=0, progress=(), file=b"<html><body>Rate limited</body></html>", content_type="image/png")

    @property
    def cancelled(self):
        return list(self.fake.cancelled)
