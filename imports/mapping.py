"""i2v rows -> plans of our rows: pure functions, no database and no files.

Each kind of i2v record becomes one pipeline, planned whole or not at all:

- `pipelines` with their `pipeline_steps`: a pipeline with its steps; the
  files a step's outputs JSON names become its outputs, in order;
- `jobs` (one image-to-video job) and `image_jobs` (one image job): a pipeline
  of one step;
- `batch_jobs` with their `batch_job_items`: a pipeline whose steps are the items.

A value outside i2v's own vocabulary (an unknown status, mode or step type),
JSON that does not parse or has the wrong shape, a date or cost that is not
one: the row is bad, BadRow says why, and the whole record is skipped (so a
fixed source imports it whole on the next run). Records i2v had not finished
(pending or running) raise Unfinished: nothing here would ever continue them.
"""

import datetime
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from i2v.lib.jsonbody import TooDeep, bounded, loads
from jobs.models import MAX_TAGS, Pipeline, Step

NAME_MAX = 200
TAG_MAX = 40
MODEL_MAX = 64
PROMPT_MAX = 500
COST_MAX = Decimal("99999999")  # DecimalField(max_digits=12, decimal_places=4)
SEARCH_PROMPTS = 50  # prompts of a record that go into its search text
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".m4v", ".mkv")

PIPELINE_MODES = {"manual", "auto", "checkpoint"}
STEP_KINDS = {"prompt_enhance", "i2i", "i2v"}
# i2v status -> ours; None: not finished in i2v.
PIPELINE_STATUSES = {"completed": "completed", "failed": "failed", "paused": "paused", "pending": None, "running": None}
JOB_STATUSES = {"completed": "completed", "failed": "failed", "pending": None, "submitted": None, "running": None}
BATCH_STATUSES = {"completed": "completed", "failed": "failed", "canceled": "cancelled", "queued": None, "running": None}
STEP_STATUSES = {"completed", "failed", "review", "pending", "running"}
ITEM_STATUSES = {"completed", "failed", "pending", "running"}
BATCH_OUTPUT_KINDS = {"image": "i2i", "carousel": "i2i", "video": "i2v", "pipeline": "i2v"}

STILL_RUNNING = "Still running in i2v when it was imported; it was not continued here."


class BadRow(Exception):
    """The row can't be imported as it is; the message says what is wrong with it."""


class Unfinished(Exception):
    """i2v had not finished this record when it was read."""


@dataclass
class OutputRef:
    """One output file as i2v named it: paths or URLs to try in order (a job's
    downloaded copy first, then its URL), and what our asset will say about it."""

    candidates: tuple
    kind: str
    prompt: str
    created_at: datetime.datetime


@dataclass
class StepPlan:
    fields: dict
    outputs: list = field(default_factory=list)


@dataclass
class PipelinePlan:
    table: str
    source_id: int
    fields: dict
    tags: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # changes a person may want to know about
    prompts: list = field(default_factory=list)  # for the search text

    @property
    def outputs(self):
        return [ref for step in self.steps for ref in step.outputs]


# --- values ------------------------------------------------------------------------------


def clean_text(value, limit=None):
    """Text as PostgreSQL can store it (no NUL characters), optionally cut to `limit`."""
    if value is None:
        return ""
    text = str(value).replace("\x00", "")
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_json(value):
    """JSON with NUL characters removed from its strings (PostgreSQL's jsonb refuses them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_json(v) for k, v in value.items()}
    return value


def parse_json(row, column, shapes, default):
    """A JSON text column parsed; NULL or empty gives `default`, anything but `shapes` is a BadRow."""
    raw = row.get(column)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    try:
        # A json column on PostgreSQL arrives parsed. A damaged one nested past any real row's depth is
        # refused before anything reads it recursively (clean_json()).
        value = bounded(raw) if isinstance(raw, (dict, list)) else loads(raw)
    except TooDeep as exc:
        raise BadRow(f"{column} is JSON {exc}") from None
    except (TypeError, ValueError) as exc:
        raise BadRow(f"{column} is not valid JSON ({_json_error(exc)})") from None
    if value is None:
        return default
    if not isinstance(value, shapes):
        wanted = " or ".join("an object" if s is dict else "a list" for s in shapes)
        raise BadRow(f"{column} is JSON but not {wanted}: {_preview(raw)}")
    return clean_json(value)


def _json_error(exc):
    return f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)


def _preview(value, limit=60):
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_date(row, column, required=True):
    """An aware UTC datetime from what i2v stored (naive UTC text on SQLite, a
    naive timestamp on PostgreSQL, sometimes with an offset)."""
    raw = row.get(column)
    if raw is None or raw == "":
        if required:
            raise BadRow(f"{column} is empty")
        return None
    if isinstance(raw, datetime.datetime):
        moment = raw
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        moment = datetime.datetime.fromtimestamp(raw, datetime.UTC)
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise BadRow(f"{column} is not a date: {_preview(raw)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def parse_cost(row, column):
    raw = row.get(column)
    if raw is None or raw == "":
        return Decimal("0")
    try:
        cost = Decimal(str(raw))
    except InvalidOperation:
        raise BadRow(f"{column} is not a number: {_preview(raw)}") from None
    if not cost.is_finite() or cost < 0 or cost > COST_MAX:
        raise BadRow(f"{column} is not a usable cost: {_preview(raw)}")
    return cost.quantize(Decimal("0.0001"))


def parse_flag(row, column):
    raw = row.get(column)
    if raw in (None, "", 0, "0", False, "false", "False"):
        return False
    if raw in (1, "1", True, "true", "True"):
        return True
    raise BadRow(f"{column} is not 0 or 1: {_preview(raw)}")


def parse_choice(row, column, choices):
    value = row.get(column)
    if value not in choices:
        raise BadRow(f"unknown {column} {_preview(value)}")
    return value


def tag_name(raw):
    """A tag name as ours are, [a-z0-9-] and at most 40 long: accents folded
    ("Café" -> "cafe"), anything else a dash. Empty when nothing is left."""
    text = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:TAG_MAX].strip("-")


def parse_tags(row, notes):
    names = []
    raw = parse_json(row, "tags", (list, str), [])
    for value in [raw] if isinstance(raw, str) else raw:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise BadRow(f"tags holds something that is not a name: {_preview(value)}")
        name = tag_name(value)
        if not name:
            notes.append(f"tag {_preview(value)} dropped: nothing of it fits [a-z0-9-]")
        elif name != str(value):
            notes.append(f"tag {_preview(value)} became {name!r}")
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        notes.append(f"{len(names) - MAX_TAGS} tags dropped past the first {MAX_TAGS}: {', '.join(names[MAX_TAGS:])[:200]}")
    return names[:MAX_TAGS]


def guess_kind(url, hint=""):
    if hint in ("image", "video"):
        return hint
    path = url.split("?", 1)[0].lower()
    return "video" if path.endswith(VIDEO_EXTENSIONS) else "image"


# --- outputs -----------------------------------------------------------------------------


def output_files(outputs):
    """(url or path, kind hint) of every file a step's outputs JSON names, in order, once each.

    i2v wrote {"items": [{"url", "type"}], "image_urls": [...], "thumbnail_urls": [...]}
    for images and {"items": [...], "video_urls": [...]} for videos; "items" and the
    lists repeat each other, and thumbnails are not outputs (we make our own).
    """
    if isinstance(outputs, list):
        entries = [_entry(item, "") for item in outputs]
    elif isinstance(outputs.get("items"), list):
        entries = [_entry(item, "") for item in outputs["items"]]
    else:
        entries = [_entry(u, "image") for u in _list(outputs, "image_urls")]
        entries += [_entry(u, "video") for u in _list(outputs, "video_urls")]
        entries += [_entry(outputs.get(k), k.split("_")[0]) for k in ("image_url", "video_url") if outputs.get(k)]
    seen, files = set(), []
    for ref, hint in entries:
        if ref and ref not in seen:
            seen.add(ref)
            files.append((ref, guess_kind(ref, hint)))
    return files


def _list(outputs, key):
    value = outputs.get(key) or []
    if not isinstance(value, list):
        raise BadRow(f"outputs.{key} is not a list")
    return value


def _entry(item, hint):
    if item is None:
        return None, hint  # a generation that produced nothing
    if isinstance(item, dict):
        url = item.get("url") or item.get("video_url") or item.get("image_url")
        hint = item.get("type") if item.get("type") in ("image", "video") else hint
        item = url
    if not isinstance(item, str):
        raise BadRow(f"outputs names something that is not a URL or a path: {_preview(item)}")
    return item.strip(), hint


def prompts_of(config, inputs):
    for source in (inputs, config):
        for key in ("prompts", "input_prompts"):
            values = source.get(key)
            if isinstance(values, list) and values:
                return [clean_text(p) for p in values if isinstance(p, str) and p.strip()]
        if isinstance(source.get("prompt"), str) and source["prompt"].strip():
            return [clean_text(source["prompt"])]
    return []


def output_prompts(kind, files, config, inputs, prompts):
    """The prompt of each output. An i2i step made images_per_prompt images for
    every (source, prompt) pair, sources outermost; when the counts say exactly
    that, each image gets its own prompt, otherwise the step's first."""
    first = prompts[0] if prompts else ""
    images = inputs.get("image_urls") if isinstance(inputs.get("image_urls"), list) else []
    per = config.get("images_per_prompt") if isinstance(config.get("images_per_prompt"), int) else 1
    if kind == "i2i" and prompts and images and per > 0 and len(files) == len(images) * len(prompts) * per:
        return [prompts[(n // per) % len(prompts)] for n in range(len(files))]
    return [first] * len(files)


# --- records -----------------------------------------------------------------------------


def plan_pipeline(row, steps, include_unfinished=False):
    """A PipelinePlan from an i2v `pipelines` row and its `pipeline_steps` rows."""
    status = _status(row, "status", PIPELINE_STATUSES, include_unfinished)
    notes = []
    created = parse_date(row, "created_at")
    updated = parse_date(row, "updated_at", required=False) or created
    checkpoints = parse_json(row, "checkpoints", (list,), [])
    fields = {
        "name": _name(row.get("name"), f"i2v pipeline #{row['id']}", notes),
        "status": status,
        "mode": parse_choice({"mode": row.get("mode") or "manual"}, "mode", PIPELINE_MODES),  # i2v's default
        "description": clean_text(row.get("description")),
        "is_favorite": parse_flag(row, "is_favorite"),
        "is_hidden": parse_flag(row, "is_hidden"),
        "created_at": created,
        "updated_at": updated,
        "config": {"i2v": {"table": "pipelines", "id": row["id"], "checkpoints": checkpoints}},
    }
    plan = PipelinePlan("pipelines", row["id"], fields, tags=parse_tags(row, notes), notes=notes)
    for order, step in enumerate(steps):
        try:
            plan.steps.append(_plan_step(step, order, status, created))
        except BadRow as exc:
            raise BadRow(f"its step #{step['id']}: {exc}") from None
    return _finish(plan)


def _plan_step(row, order, pipeline_status, pipeline_created):
    kind = parse_choice(row, "step_type", STEP_KINDS)
    config = parse_json(row, "config", (dict,), {})
    inputs = parse_json(row, "inputs", (dict,), {})
    outputs = parse_json(row, "outputs", (dict, list), {})
    created = parse_date(row, "created_at", required=False) or pipeline_created
    updated = parse_date(row, "updated_at", required=False) or created
    prompts = prompts_of(config, inputs)
    files = output_files(outputs) if kind != "prompt_enhance" else []
    status, error = _step_status(parse_choice(row, "status", STEP_STATUSES), pipeline_status)
    fields = _step_fields(kind, order, status, {**config, "prompt": prompts[0] if prompts else ""}, inputs, created, updated)
    fields.update(
        cost_estimate=parse_cost(row, "cost_estimate"), cost_actual=parse_cost(row, "cost_actual"),
        error=clean_text(row.get("error_message")) or error,
    )  # fmt: skip
    if kind == "prompt_enhance" and isinstance(outputs, dict) and isinstance(outputs.get("prompts"), list):
        fields["config"]["enhanced_prompts"] = outputs["prompts"]  # its output is prompts, not files
    refs = output_prompts(kind, files, config, inputs, prompts)
    return StepPlan(fields, [OutputRef((ref,), hint, prompt, updated) for (ref, hint), prompt in zip(files, refs)])


def _step_status(status, pipeline_status):
    """Our status of an i2v step, and an error to show with it. Nothing here
    continues i2v's work, so steps it had not finished end up cancelled
    (pending ones of a pipeline paused for review keep waiting)."""
    if status == "running":
        return Step.Status.CANCELLED, STILL_RUNNING
    if status == "pending" and pipeline_status != Pipeline.Status.PAUSED:
        return Step.Status.CANCELLED, ""
    return status, ""


def _step_fields(kind, order, status, config, inputs, created, updated):
    ran = status in (Step.Status.COMPLETED, Step.Status.FAILED)
    return {
        "kind": kind, "order": order, "status": status, "config": config, "inputs": inputs,
        "progress": 100 if status == Step.Status.COMPLETED else 0, "attempts": 1 if ran else 0,
        "started_at": created if ran else None, "finished_at": updated if ran else None,
    }  # fmt: skip


def plan_job(row, include_unfinished=False):
    """A one-step video pipeline from an i2v `jobs` row (image to video)."""
    status = _status(row, "wan_status", JOB_STATUSES, include_unfinished)
    prompt = clean_text(row.get("motion_prompt"))
    created = parse_date(row, "created_at")
    updated = parse_date(row, "updated_at", required=False) or created
    config = {
        "model": clean_text(row.get("model")), "provider": clean_text(row.get("provider")), "prompt": prompt,
        "negative_prompt": clean_text(row.get("negative_prompt")), "resolution": clean_text(row.get("resolution")),
        "duration_sec": row.get("duration_sec"), "request_id": clean_text(row.get("wan_request_id")),
    }  # fmt: skip
    inputs = {"image_urls": [clean_text(row.get("image_url"))], "prompts": [prompt]}
    candidates = tuple(c for c in (clean_text(row.get("local_video_path")), clean_text(row.get("wan_video_url"))) if c)
    return _single("jobs", row, "i2v", "Video", status, config, inputs, [(candidates, "video")], created, updated)


def plan_image_job(row, include_unfinished=False):
    """A one-step image pipeline from an i2v `image_jobs` row."""
    status = _status(row, "status", JOB_STATUSES, include_unfinished)
    prompt = clean_text(row.get("prompt"))
    created = parse_date(row, "created_at")
    updated = parse_date(row, "updated_at", required=False) or created
    urls = parse_json(row, "result_image_urls", (list,), [])
    paths = parse_json(row, "local_image_paths", (list,), [])
    config = {
        "model": clean_text(row.get("model")), "prompt": prompt, "negative_prompt": clean_text(row.get("negative_prompt")),
        "aspect_ratio": clean_text(row.get("aspect_ratio")), "quality": clean_text(row.get("quality")),
        "num_images": row.get("num_images"), "request_id": clean_text(row.get("request_id")),
    }  # fmt: skip
    inputs = {"image_urls": [clean_text(row.get("source_image_url"))], "prompts": [prompt]}
    files = []
    for n in range(max(len(urls), len(paths))):
        pair = (paths[n] if n < len(paths) else None, urls[n] if n < len(urls) else None)
        candidates = tuple(clean_text(c) for c in pair if isinstance(c, str) and c.strip())
        if candidates:
            files.append((candidates, "image"))
    return _single("image_jobs", row, "i2i", "Image", status, config, inputs, files, created, updated)


def _single(table, row, kind, label, status, config, inputs, files, created, updated):
    notes = []
    name = _name(f"{label}: {' '.join(config['prompt'].split())}" if config["prompt"] else "", f"i2v {table[:-1].replace('_', ' ')} #{row['id']}", notes)
    step_status = status if status != Pipeline.Status.CANCELLED else Step.Status.CANCELLED
    step = StepPlan(_step_fields(kind, 0, step_status, config, inputs, created, updated))
    step.fields["error"] = clean_text(row.get("error_message")) or (STILL_RUNNING if status == Pipeline.Status.CANCELLED else "")
    step.outputs = [OutputRef(candidates, hint, config["prompt"], updated) for candidates, hint in files if candidates]
    fields = {
        "name": name, "status": status, "mode": Pipeline.Mode.AUTO, "created_at": created, "updated_at": updated,
        "config": {"i2v": {"table": table, "id": row["id"]}},
    }  # fmt: skip
    return _finish(PipelinePlan(table, row["id"], fields, steps=[step], notes=notes))


def plan_batch(row, items, include_unfinished=False):
    """A pipeline from an i2v `batch_jobs` row, one step per `batch_job_items` row."""
    status = _status(row, "status", BATCH_STATUSES, include_unfinished)
    kind = BATCH_OUTPUT_KINDS.get(row.get("output_type") or "image")  # i2v's default
    if kind is None:
        raise BadRow(f"unknown output_type {_preview(row.get('output_type'))}")
    config = parse_json(row, "config", (dict,), {})
    created = parse_date(row, "created_at")
    updated = parse_date(row, "updated_at", required=False) or parse_date(row, "finished_at", required=False) or created
    notes = []
    template = clean_text(row.get("template_id"))
    label = template or clean_text(row.get("job_id"))[:8] or f"#{row['id']}"
    provenance = {
        "table": "batch_jobs", "id": row["id"], "job_id": clean_text(row.get("job_id")), "template_id": template,
        "quantity": row.get("quantity"), "credits_charged": row.get("credits_charged"),
        "credits_refunded": row.get("credits_refunded"),
    }  # fmt: skip
    fields = {
        "name": _name(f"Batch: {label}", f"i2v batch #{row['id']}", notes), "status": status,
        "mode": Pipeline.Mode.AUTO, "description": clean_text(row.get("error_message")), "created_at": created,
        "updated_at": updated, "config": {"i2v": provenance},
    }  # fmt: skip
    plan = PipelinePlan("batch_jobs", row["id"], fields, notes=notes)
    for order, item in enumerate(items):
        try:
            plan.steps.append(_plan_item(item, order, kind, config, status, created))
        except BadRow as exc:
            raise BadRow(f"its item #{item['id']}: {exc}") from None
    return _finish(plan)


def _plan_item(row, order, kind, batch_config, batch_status, batch_created):
    variation = parse_json(row, "variation_params", (dict,), {})
    prompt = clean_text(row.get("prompt"))
    created = parse_date(row, "started_at", required=False) or parse_date(row, "created_at", required=False) or batch_created
    finished = parse_date(row, "finished_at", required=False) or created
    status, error = _step_status(parse_choice(row, "status", ITEM_STATUSES), batch_status)
    config = {**batch_config, "prompt": prompt, "caption": clean_text(row.get("caption")), "variation_params": variation}
    fields = _step_fields(kind, order, status, config, {"prompts": [prompt]} if prompt else {}, created, finished)
    fields["error"] = clean_text(row.get("error_message")) or error
    url = clean_text(row.get("result_url")).strip()
    outputs = [OutputRef((url,), guess_kind(url, "video" if kind == "i2v" else ""), prompt, finished)] if url else []
    return StepPlan(fields, outputs)


def _status(row, column, mapping, include_unfinished):
    status = mapping.get(row.get(column), "unknown") if isinstance(row.get(column), str) else "unknown"
    if status == "unknown":
        raise BadRow(f"unknown {column} {_preview(row.get(column))}")
    if status is None:
        if not include_unfinished:
            raise Unfinished(
                f"still {row[column]} in i2v: import it once it has finished, or pass --include-unfinished "
                "to take it as it is (cancelled)"
            )
        return Pipeline.Status.CANCELLED
    return status


def _name(raw, fallback, notes):
    name = " ".join(clean_text(raw).split())  # line breaks and tabs in a one-line name
    if not name:
        return fallback
    if len(name) > NAME_MAX:
        notes.append(f"name cut to {NAME_MAX} characters")
        return clean_text(name, NAME_MAX)
    return name


def _finish(plan):
    """The pipeline's list columns, derived from its steps like the executor's."""
    steps = [s.fields for s in plan.steps]
    prompts = [s["config"].get("prompt") for s in steps if s["config"].get("prompt")]
    models = [s["config"].get("model") for s in steps if s["kind"] != "prompt_enhance" and isinstance(s["config"].get("model"), str)]
    plan.fields.update(
        model=clean_text(models[0] if models else "", MODEL_MAX), first_prompt=clean_text(prompts[0] if prompts else "", PROMPT_MAX),
        total_cost=sum((s.get("cost_actual", Decimal("0")) for s in steps), Decimal("0")),
        planned_steps=len(steps), progress_done=sum(1 for s in steps if s["status"] == Step.Status.COMPLETED),
    )  # fmt: skip
    plan.prompts = list(dict.fromkeys(prompts))[:SEARCH_PROMPTS]
    return plan
