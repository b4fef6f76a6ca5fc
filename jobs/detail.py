"""What a pipeline's detail loads: the expanded Jobs row, its own page and GET /api/pipelines/<id>.

Kept apart from the pipeline domain (models.py) for the same reason as listing.py: these decide
what the detail costs. However many steps a pipeline has, the detail is the same few queries and
kilobytes: a summary of its steps counted in the database ("1,000 x video: 20 failed, 980
completed"), one keyset page of steps and one of outputs. The rest is a "more" link or a cursor
away. When a big pipeline has failures, its first page of steps is the failures, so what needs
a person is never pages down.
"""

from dataclasses import dataclass

from django.db.models import Count

from i2v.lib.compiled import values_by_keys
from i2v.lib.money import usd
from i2v.lib.pagination import Ordering, paginate_by

from .models import Step

# Step rows per page: the HTML expansion (kept small: the whole expansion budget is 50 KB) and the API.
STEP_PAGE_HTML = 20
STEP_PAGE_API = 50
# Output tiles on the expansion's first page, three rows of a wide screen (each carries its viewer and
# download parts, about 0.8 KB): with 20 step rows, a 2,000-step expansion costs about twice a 5-step one.
OUTPUT_PAGE_HTML = 24
STEP_ORDERING = Ordering("step", (("order", False), ("id", False)))
PROBLEMS = "problems"  # the filter for what needs a person: failed, or outcome unknown
# Statuses in a summary: what needs a person first, what is done last.
STATUS_ORDER = ("failed", "unknown", "review", "running", "waiting", "queued", "pending", "completed", "cancelled")
# What a step row shows; inputs, lease and queue bookkeeping stay in the database.
STEP_FIELDS = (
    "id", "pipeline_id", "kind", "order", "variant", "status", "phase", "progress", "queue_position", "progress_note",
    "config", "cost_estimate", "cost_actual", "cost_reported", "error", "attempts", "started_at", "finished_at",
)  # fmt: skip


PROBLEM_STATUSES = (Step.Status.FAILED, Step.Status.UNKNOWN)
# Steps still to finish: at work, or waiting for the stage before theirs.
UNFINISHED_STATUSES = (*Step.ACTIVE, Step.Status.PENDING)


def step_filters():
    """(value, label) of the step filters: all, what needs a person, or one status."""
    return [("", "all"), (PROBLEMS, "failed or unknown"), *((s.value, status_label(s.value)) for s in Step.Status)]


def status_label(status):
    return "outcome unknown" if status == Step.Status.UNKNOWN else status


@dataclass
class StepGroup:
    """The steps of one kind: how many, and how many in each status (failures first)."""

    kind: str
    label: str
    total: int
    statuses: list  # [(status, label, count)], in STATUS_ORDER

    def as_json(self):
        return {"kind": self.kind, "total": self.total, "statuses": {s: n for s, _, n in self.statuses}}


@dataclass
class StepSummary:
    groups: list

    @property
    def total(self):
        return sum(g.total for g in self.groups)

    def count(self, status):
        """Steps in `status` ("" for all, PROBLEMS for failed or unknown)."""
        wanted = PROBLEM_STATUSES if status == PROBLEMS else (status,)
        if not status:
            return self.total
        return sum(n for g in self.groups for s, _, n in g.statuses if s in wanted)

    @property
    def at_work(self):
        """Whether a step is still to finish: the detail then redraws itself as they do."""
        return any(s in UNFINISHED_STATUSES for g in self.groups for s, _, _ in g.statuses)

    def default_filter(self, page_size):
        """Failures first, when there are some and they could be pages down."""
        return PROBLEMS if self.total > page_size and self.count(PROBLEMS) else ""


def _counted_by_kind_and_status(steps):
    return steps.order_by().values_list("kind", "status").annotate(n=Count("id"))


def step_summary(pipeline):
    """Counts of the pipeline's steps by kind and status: one grouped query over its index range, which holds
    both (jobs migration 0017): on PostgreSQL an index-only scan, reading no step row that vacuum has seen.
    Compiled once (i2v/lib/compiled.py), as every detail asks it."""
    rows = values_by_keys(Step, _counted_by_kind_and_status, [pipeline.id], Step.objects.db, by="pipeline")
    by_kind = {}
    for kind, status, n in rows:
        by_kind.setdefault(kind, {})[status] = n
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    labels = dict(Step.Kind.choices)
    groups = [
        StepGroup(
            kind, labels.get(kind, kind), sum(counts.values()),
            [(s, status_label(s), n) for s, n in sorted(counts.items(), key=lambda c: rank.get(c[0], 99))],
        )  # fmt: skip
        for kind, counts in sorted(by_kind.items(), key=lambda item: list(labels).index(item[0]) if item[0] in labels else 99)
    ]
    return StepSummary(groups)


def _step_rows(status):
    def rows(steps):
        steps = steps.only(*STEP_FIELDS)
        if status == PROBLEMS:
            return steps.filter(status__in=PROBLEM_STATUSES)
        return steps.filter(status=status) if status else steps

    return rows


# One rows function per step filter, made once, so each filter's first page is compiled once (paginate_by()).
STEP_ROWS = {value: _step_rows(value) for value, _ in step_filters()}


def steps_page(pipeline, status="", cursor=None, page_size=STEP_PAGE_API):
    """One keyset page of the pipeline's steps in order, of one filter (see step_filters); raises CursorError."""
    return paginate_by(Step, STEP_ROWS[status], "pipeline", pipeline.id, STEP_ORDERING, cursor, page_size)


def _truncated(text, length):
    # What the truncatechars filter does, once per tile in Python instead of in the template.
    return text if len(text) <= length else text[: length - 1] + "…"


def tiles(outputs):
    """What each output tile prints, computed once here: the template only prints it
    (a template lookup costs more than the Python that makes the value)."""
    made = []
    for output in outputs:
        asset = output.asset
        preview, prompt = asset.rendition(600), asset.prompt or ""
        made.append({
            "video": asset.kind == "video", "href": asset.original_url, "thumb": asset.rendition(300),
            "srcset": asset.srcset, "preview": preview["url"] if preview else "",
            "title": _truncated(prompt, 200), "alt": _truncated(prompt, 120),
            # The viewer (static/js/viewer.js) and the download picks address a tile by these.
            "output": output.id, "asset": asset.id, "kind": asset.kind, "number": output.position + 1,
            "favorite": asset.is_favorite, "hidden": asset.is_hidden,
        })  # fmt: skip
    return made


def _costs(step):
    """A step's costs as the page prints them (i2v/lib/money.py): what it cost, what its provider reported
    where that reads otherwise, and its estimate; a step that costs nothing at all is "Free", as in the viewer."""
    reported = "" if step.cost_reported is None else usd(step.cost_reported)
    actual = usd(step.cost_actual)
    free = not (step.cost_actual or step.cost_estimate or step.cost_reported)
    return {"free": free, "actual": actual, "estimate": usd(step.cost_estimate), "reported": reported if reported != actual else ""}


def step_rows(steps):
    """What each step row prints, computed once here (labels, truncated prompt, costs)."""
    kinds, statuses = dict(Step.Kind.choices), dict(Step.Status.choices)
    rows = []
    for step in steps:
        prompt = step.prompt
        rows.append({
            "id": step.id, "order": step.order, "status": step.status, "kind": kinds.get(step.kind, step.kind),
            "status_label": status_label(step.status) if step.status == Step.Status.UNKNOWN else statuses.get(step.status, step.status),
            "waiting": step.status == Step.Status.WAITING, "queue_position": None if step.queue_position is None else step.queue_position + 1,
            "progress": step.progress, "note": step.progress_note, "model": step.model_name, "model_label": step.model_label,
            "prompt": _truncated(prompt, 140), "prompt_title": prompt if len(prompt) > 140 else "",
            "error": step.error, **_costs(step),
        })  # fmt: skip
    return rows
