"""A self-hosted ComfyUI as a provider: your own GPU runs FLUX Kontext, Wan 2.2, ...

ComfyUI's HTTP API, as its server.py defines it:

    POST /upload/image   multipart image=<file>, type=input, subfolder, overwrite -> {"name", "subfolder", "type"}
    POST /prompt         {"prompt": <API-format workflow>, "client_id", "prompt_id"}
                         -> {"prompt_id", "number", "node_errors"}
                         | 400 {"error": {"type", "message", "details"}, "node_errors": {node: {"errors", "class_type"}}}
    GET  /queue          {"queue_running": [[number, prompt_id, ...]], "queue_pending": [[number, prompt_id, ...], ...]}
    GET  /history/{id}   {} until it has run, then {id: {"outputs": {node: {"images": [{"filename", "subfolder",
                         "type"}]}}, "status": {"status_str": "success" | "error", "completed", "messages"}}}
    GET  /view?filename=&subfolder=&type=output    a file it saved
    POST /queue          {"delete": [prompt_id]}       takes a waiting prompt out of the queue
    POST /interrupt      {"prompt_id"}                 stops the prompt if it is the one running

The source is uploaded, then the model's workflow is queued: a JSON file in
COMFYUI_WORKFLOWS named after the catalog entry's `endpoint` (flux-kontext.json,
wan-2.2-i2v.json), in ComfyUI's API format (Workflow > Export (API)). Filling
it is one rule: inside a node's inputs, a string that is exactly "{{name}}"
becomes the value of `name`, with its JSON type (a number stays a number).
Nothing else is touched and nothing is spliced into longer strings, so a
prompt's own braces or quotes can't change the workflow. The names
(PLACEHOLDERS) are checked when the file is read, so a typo fails the step
with the file and node named, before anything is queued.

We choose the prompt_id (derived from our request's token), as ComfyUI has
accepted since mid-2025, so a submission whose answer was lost is found again
in /queue or /history (can_lookup). An older ComfyUI ignores it and picks its
own: the request still runs, but a lost answer then can't be looked up and its
owner is asked, as with a hosted provider.

ComfyUI reports progress only over its websocket, so a running prompt shows as
running without a percentage; the queue position comes from /queue. It never
answers 429: under load it queues. A reverse proxy in front of it may (nginx
limit_req, a GPU host's gateway), and that 429's Retry-After is honoured like
any provider's. Nothing here is billed (the catalog prices it at 0), but GPU
time is spent, so a request is never resubmitted by itself (resubmit_safe is
False) and at most GENERATION_CONCURRENCY_COMFYUI are queued at once.

On httpx (jobs/providers/http.py): ComfyUI ships no Python client.
"""

import hashlib
import io
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from PIL import Image

from . import http
from .base import (
    ASPECT_RATIOS,
    CANCELLED,
    COMPLETED,
    FAILED,
    NOT_FOUND,
    QUALITIES,
    QUEUED,
    RUNNING,
    Provider,
    ProviderError,
    Remote,
    aspect_ratio,
    image_file,
    int_setting,
    source_image,
    video_file,
)

WHO = "ComfyUI"
NO_URL = (
    "ComfyUI is not configured: set the COMFYUI_URL environment variable to your ComfyUI server (such as "
    "http://127.0.0.1:8188) and restart the web and worker processes, or choose another model."
)
CLIENT_ID = "i2v"
UPLOAD_SUBFOLDER = "i2v"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
# What a workflow may ask for, and what it must. Video-only names are refused in an image workflow.
PLACEHOLDERS = {
    "image": "the uploaded source image's name, for LoadImage",
    "prompt": "the prompt",
    "negative_prompt": "the negative prompt (empty when none)",
    "seed": "the step's seed, a whole number",
    "width": "output width in pixels, a multiple of 16",
    "height": "output height in pixels, a multiple of 16",
    "length": "video frames: duration x fps rounded to a multiple of 4, plus 1",
    "fps": "video frames per second (the catalog entry's params.fps, 16 by default)",
    "duration": "video seconds",
}
REQUIRED = ("image", "prompt")
VIDEO_ONLY = ("length", "fps", "duration")
# Pixels of an image by the quality setting (FLUX Kontext works at about a megapixel).
IMAGE_AREA = {"draft": 768 * 768, "standard": 1024 * 1024, "high": 1280 * 1280}
DEFAULT_FPS = 16  # Wan 2.2 A14B's frame rate
SIZE_STEP = 16  # latent sizes: VAE stride 8 x patch 2
SEED_MAX = 2**32 - 1
SOURCE_MAX_SIDE = 2048  # the source is uploaded at most this big, as a JPEG of this quality
SOURCE_JPEG_QUALITY = 95
FILE_KINDS = {"i2i": (".png", ".jpg", ".jpeg", ".webp"), "i2v": (".mp4", ".webm")}


class ComfyUIProvider(Provider):
    name = "comfyui"
    label = "ComfyUI"
    can_lookup = True  # our own prompt_id, found again in /queue or /history
    # Its "key" is where the server is: with none set, its models are offered disabled, as a hosted
    # provider's without its key (a default address would offer them on every machine without a GPU).
    key_setting = "COMFYUI_URL"
    no_key = NO_URL

    @property
    def account(self):
        """The ComfyUI server's host (its queue is the limit): host:port, or a fingerprint of it
        where that is longer than the field holds."""
        parts = urlsplit(settings.COMFYUI_URL)
        host = f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""
        return host if len(host) <= 16 else hashlib.sha256(host.encode()).hexdigest()[:12]

    @property
    def endpoint(self):
        return self.spec.get("endpoint") or self.model_id

    def _client(self):
        self.require_key()
        return _client()

    def submit(self, job):
        self.require_kind(job.kind)
        template = load_workflow(self.workflow_path(), self.spec["kind"])
        source = source_image(job.source())
        prompt_id = prompt_id_of(job.token)
        with self._client() as client:
            image = upload(client, source)
            workflow = fill(template, self.values(job, source.size, image))
            body = {"prompt": workflow, "client_id": CLIENT_ID, "prompt_id": prompt_id}
            reply = http.call(client, WHO, "POST", url("/prompt"), json=body, submission=True)
        if not isinstance(reply, dict) or not reply.get("prompt_id"):
            raise ProviderError("ComfyUI queued the workflow but sent no prompt_id back.")
        # An older ComfyUI picks its own id; the request is then followed by that one.
        return Remote(QUEUED, external_id=str(reply["prompt_id"]), meta={"number": reply.get("number")})

    def workflow_path(self):
        return Path(settings.COMFYUI_WORKFLOWS) / f"{self.endpoint}.json"

    def values(self, job, source_size, image):
        """What each placeholder becomes for this job."""
        options = job.options
        values = {
            "image": image,
            "prompt": job.prompt,
            "negative_prompt": options.get("negative_prompt") or "",
            "seed": int_setting(options, "seed", 0, 0, SEED_MAX),
        }
        if self.spec["kind"] == "i2i":
            quality = options.get("quality") if options.get("quality") in QUALITIES else "standard"
            ratio = aspect_ratio(options) or source_size
            values["width"], values["height"] = size_for_area(ratio, IMAGE_AREA[quality])
            return values
        from jobs.catalog import effective

        used = effective(self.model_id, options)
        fps = int(self.spec.get("params", {}).get("fps", DEFAULT_FPS))
        ratio = ASPECT_RATIOS.get(options.get("aspect_ratio")) or source_size
        values["width"], values["height"] = size_for_lines(ratio, used["resolution"])
        values["fps"], values["duration"] = fps, used["duration"]
        values["length"] = round(used["duration"] * fps / 4) * 4 + 1
        return values

    def check(self, request):
        return self._find(request.external_id or prompt_id_of(request.token))

    def lookup(self, request):
        found = self._find(prompt_id_of(request.token))
        return None if found.state == NOT_FOUND else found

    def _find(self, prompt_id):
        """Where the prompt is now: run (in /history), running or waiting (in /queue), or nowhere."""
        with self._client() as client:
            entry = history(client, prompt_id)
            if entry is None:
                waiting = queue_place(client, prompt_id)
                if waiting is not None:
                    return waiting
                # It may have finished between the two calls.
                entry = history(client, prompt_id)
        if entry is None:
            # Not queued, not run: ComfyUI was restarted (its history lives in memory), or an old
            # ComfyUI gave it another id. The lifecycle asks again for a while, then its owner.
            return Remote(NOT_FOUND, prompt_id)
        return self._finished(prompt_id, entry)

    def _finished(self, prompt_id, entry):
        status = entry.get("status") or {}
        messages = {event: data for event, data in _messages(status)}
        if "execution_interrupted" in messages:
            return Remote(CANCELLED, prompt_id, error="Interrupted in ComfyUI.")
        if status.get("status_str") == "error" or "execution_error" in messages:
            return Remote(FAILED, prompt_id, error=execution_error(messages.get("execution_error")))
        files = output_files(entry.get("outputs"), self.spec["kind"])
        if not files:
            made = "video" if self.spec["kind"] == "i2v" else "image"
            return Remote(
                FAILED, prompt_id,
                error=f"ComfyUI ran the workflow but it saved no {made} (does {self.workflow_path().name} end in a Save node?).",
            )  # fmt: skip
        return Remote(COMPLETED, prompt_id, progress=100, outputs=files[:1])

    def fetch(self, request, checkpoint=None):
        files = []
        with self._client() as client:
            for path in request.result or []:
                # ComfyUI's own API: the credentials of COMFYUI_URL (if any) go along.
                data = http.download(client, WHO, url(path), checkpoint, send_key=True)
                origin = "A file from ComfyUI"
                files.append(image_file(data, origin) if self.spec["kind"] == "i2i" else video_file(data, origin))
        return files

    def cancel(self, request):
        """Take it out of the queue; stop it only if it is the prompt running (an older
        ComfyUI's /interrupt stops whatever runs, so it is never called blindly)."""
        prompt_id = request.external_id or prompt_id_of(request.token)
        with self._client() as client:
            http.call(client, WHO, "POST", url("/queue"), json={"delete": [prompt_id]})
            place = queue_place(client, prompt_id)  # asked after: it may have started meanwhile
            if place is not None and place.state == RUNNING:
                http.call(client, WHO, "POST", url("/interrupt"), json={"prompt_id": prompt_id})


def url(path):
    return f"{settings.COMFYUI_URL}{path}"


def prompt_id_of(token):
    """Our prompt_id for a request: the same every time, so a lost submission is found by it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"i2v:{token}"))


def _client():
    client = http.client()
    client.event_hooks = {"request": [], "response": [_refused_workflow]}
    return client


def _refused_workflow(response):
    """ComfyUI's 400 to /prompt says which node refused what; the generic message would
    only say "Prompt outputs failed validation"."""
    if response.status_code == 400 and response.request.url.path.endswith("/prompt"):
        response.read()
        raise ProviderError(f"ComfyUI refused the workflow: {workflow_errors(http.parse_json(response.content))}")


def workflow_errors(reply):
    """The readable part of ComfyUI's validation answer: the error, then each node's reasons."""
    if not isinstance(reply, dict):
        return "HTTP 400 with no details."
    error = reply.get("error")
    said = []
    if isinstance(error, dict):
        said.append(str(error.get("message") or error.get("type") or "invalid workflow"))
    elif error:
        said.append(str(error))
    nodes = reply.get("node_errors") if isinstance(reply.get("node_errors"), dict) else {}
    for node_id, node in nodes.items():
        for reason in (node or {}).get("errors") or []:
            what = ": ".join(str(reason.get(key)) for key in ("message", "details") if reason.get(key))
            said.append(f"{node.get('class_type', 'node')} (node {node_id}): {what}")
    if len(said) == 1 and isinstance(error, dict) and error.get("details"):
        said.append(str(error["details"]))
    return "; ".join(said)[:480] or "HTTP 400 with no details."


def upload(client, image):
    """Upload the source into ComfyUI's input folder; the name LoadImage takes."""
    if max(image.size) > SOURCE_MAX_SIDE:
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=SOURCE_JPEG_QUALITY)
    data = buf.getvalue()
    # Named by content: the same source is stored once, and overwriting it changes nothing.
    name = f"{hashlib.sha256(data).hexdigest()[:24]}.jpg"
    fields = {"type": "input", "subfolder": UPLOAD_SUBFOLDER, "overwrite": "true"}
    reply = http.call(client, WHO, "POST", url("/upload/image"), data=fields, files={"image": (name, data, "image/jpeg")})
    if not isinstance(reply, dict) or not reply.get("name"):
        raise ProviderError("ComfyUI took the source image but did not say its name.", retryable=True)
    return f"{reply['subfolder']}/{reply['name']}" if reply.get("subfolder") else reply["name"]


def history(client, prompt_id):
    reply = http.call(client, WHO, "GET", url(f"/history/{prompt_id}"))
    entry = reply.get(prompt_id) if isinstance(reply, dict) else None
    return entry if isinstance(entry, dict) else None


def queue_place(client, prompt_id):
    """Remote(RUNNING) or Remote(QUEUED, position) from /queue, or None when it isn't there."""
    reply = http.call(client, WHO, "GET", url("/queue"))
    if not isinstance(reply, dict):
        raise ProviderError("ComfyUI sent a queue that is not an object.", retryable=True)
    if any(_item_id(item) == prompt_id for item in reply.get("queue_running") or []):
        return Remote(RUNNING, prompt_id)
    pending = sorted((item for item in reply.get("queue_pending") or [] if _item_id(item)), key=_item_number)
    ids = [_item_id(item) for item in pending]
    if prompt_id in ids:
        return Remote(QUEUED, prompt_id, queue_position=ids.index(prompt_id))
    return None


def _item_id(item):
    # A queue item: [number, prompt_id, prompt, extra_data, outputs_to_execute, ...]
    return str(item[1]) if isinstance(item, list) and len(item) > 1 else None


def _item_number(item):
    try:
        return float(item[0])
    except (TypeError, ValueError):
        return 0.0


def _messages(status):
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict):
            yield message[0], message[1]


def execution_error(data):
    if not data:
        return "ComfyUI reported an error running the workflow."
    node = f"{data.get('node_type') or 'a node'} (node {data.get('node_id', '?')})"
    kind = str(data.get("exception_type") or "").rsplit(".", 1)[-1]
    detail = str(data.get("exception_message") or "").strip() or "no details"
    return f"ComfyUI: {node} failed: {kind + ': ' if kind else ''}{detail}"[:500]


def output_files(outputs, kind):
    """/view paths of the files the workflow saved (not its previews), of the kind the model makes."""
    found = []
    for node_id in sorted(outputs or {}, key=_node_order):
        for items in (outputs[node_id] or {}).values():
            for item in items if isinstance(items, list) else []:
                if (
                    isinstance(item, dict) and item.get("type", "output") == "output"
                    and str(item.get("filename", "")).lower().endswith(FILE_KINDS[kind])
                ):  # fmt: skip
                    query = {"filename": item["filename"], "subfolder": item.get("subfolder", ""), "type": "output"}
                    found.append(f"/view?{urlencode(query)}")
    return found


def _node_order(node_id):
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))


# --- Workflow templates ---------------------------------------------------------------------


def load_workflow(path, kind):
    """The API-format workflow at `path`, its placeholders checked for a model of `kind`."""
    try:
        workflow = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ProviderError(
            f"There is no ComfyUI workflow {Path(path).name} in {Path(path).parent} (COMFYUI_WORKFLOWS): "
            "export the model's workflow from ComfyUI with Workflow > Export (API) and save it there."
        ) from None
    except (OSError, ValueError) as exc:
        raise ProviderError(f"The ComfyUI workflow {path} can't be read: {exc}") from None
    where = f"The ComfyUI workflow {Path(path).name}"
    if isinstance(workflow, dict) and "nodes" in workflow and "links" in workflow:
        raise ProviderError(f"{where} is in ComfyUI's UI format; export it with Workflow > Export (API) instead.")
    if not isinstance(workflow, dict) or not workflow:
        raise ProviderError(f"{where} is not an API-format workflow (an object of nodes).")
    used = set()
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or not node.get("class_type") or not isinstance(node.get("inputs"), dict):
            raise ProviderError(f"{where}: node {node_id} has no class_type and inputs.")
        for name in _placeholders(node["inputs"]):
            if name not in PLACEHOLDERS or (kind == "i2i" and name in VIDEO_ONLY):
                known = ", ".join(n for n in PLACEHOLDERS if kind == "i2v" or n not in VIDEO_ONLY)
                raise ProviderError(f"{where}: node {node_id} ({node['class_type']}) asks for {{{{{name}}}}}; the placeholders are {known}.")
            used.add(name)
    missing = [name for name in REQUIRED if name not in used]
    if missing:
        raise ProviderError(f"{where} has no {', '.join('{{' + m + '}}' for m in missing)} placeholder: where would the source and prompt go?")
    return workflow


def _placeholders(value):
    if isinstance(value, str):
        match = PLACEHOLDER.fullmatch(value)
        return [match[1]] if match else []
    if isinstance(value, list):
        return [name for item in value for name in _placeholders(item)]
    if isinstance(value, dict):
        return [name for item in value.values() for name in _placeholders(item)]
    return []


def fill(workflow, values):
    """The workflow with every "{{name}}" input replaced by values[name] (see the module's docstring)."""
    return {node_id: {**node, "inputs": _filled(node["inputs"], values)} for node_id, node in workflow.items()}


def _filled(value, values):
    if isinstance(value, str):
        match = PLACEHOLDER.fullmatch(value)
        return values[match[1]] if match else value
    if isinstance(value, list):
        return [_filled(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, values) for key, item in value.items()}
    return value


def size_for_area(ratio, area):
    """(width, height) of about `area` pixels in the shape of `ratio`, multiples of SIZE_STEP."""
    w, h = ratio
    scale = (area / (w * h)) ** 0.5
    return _step(w * scale), _step(h * scale)


def size_for_lines(ratio, resolution):
    """(width, height) whose short side is the resolution's lines ("480p"), in the shape of `ratio`."""
    lines = int(str(resolution or "720p").rstrip("p"))
    w, h = ratio
    if w >= h:
        return _step(lines * w / h), _step(lines)
    return _step(lines), _step(lines * h / w)


def _step(value):
    return max(SIZE_STEP, round(value / SIZE_STEP) * SIZE_STEP)
