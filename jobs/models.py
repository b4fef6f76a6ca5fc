import datetime
import hashlib
import logging
from decimal import Decimal
from functools import partial

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from i2v.lib.bulk import delete_rows
from i2v.lib.cache import bump_on_commit
from i2v.lib.filters import created_between, text_search
from i2v.lib.pagination import Ordering, count_for_list, paginate, pagination_json
from library.media import store_once
from library.models import Asset, original_path, rendition
from media_processing.models import ProcessingJob, broker_queue_sizes

from .providers import ProviderError, estimate_cost

logger = logging.getLogger(__name__)
RUN_STEP = "jobs.tasks.run_step"

TAG_NAME = RegexValidator(r"^[a-z0-9-]{1,40}$", "Tags use lowercase letters, digits and dashes (at most 40).")
COLOUR = RegexValidator(r"^#[0-9a-f]{6}$", "Colours look like #a1b2c3.")
TAG_PALETTE = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#ec4899", "#8b5cf6", "#14b8a6"]


class TagQuerySet(models.QuerySet):
    def for_name(self, owner_id, name):
        tag, _ = self.get_or_create(owner_id=owner_id, name=name, defaults={"colour": Tag.colour_for(name)})
        return tag

    def quick(self, exclude=None, limit=8):
        """The owner's most used tags, offered as one-click choices."""
        qs = self.annotate(uses=Count("pipelinetag")).order_by("-uses", "name")
        if exclude is not None:
            qs = qs.exclude(pipelinetag__pipeline=exclude)
        return qs[:limit]


class Tag(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40, validators=[TAG_NAME])
    colour = models.CharField(max_length=7, validators=[COLOUR], default=TAG_PALETTE[0])

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # Tag lookup by name for the tag filter and "add tag": owner=? AND name=?
            models.UniqueConstraint(fields=["owner", "name"], name="tag_owner_name_uniq"),
        ]

    def __str__(self):
        return self.name

    @staticmethod
    def colour_for(name):
        # A stable colour per name, so a new tag looks the same on every page.
        return TAG_PALETTE[sum(name.encode()) % len(TAG_PALETTE)]


class TagList(models.Aggregate):
    """'id:name:colour' of every tag, comma-joined, in one column.

    Tags ride along in the list query itself instead of a prefetch query; names
    are [a-z0-9-] and colours hex, so ',' and ':' can't appear inside a value.
    """

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ',')"
    output_field = models.TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT", **extra)


class PipelineQuerySet(models.QuerySet):
    def filtered(self, *, status="", tag="", favorites=False, hidden="", q="", date_from=None, date_to=None, model=""):
        """The Jobs page filters. Each maps onto an index named in Meta.indexes."""
        qs = self
        if hidden == "only":
            qs = qs.filter(is_hidden=True)
        elif hidden != "include":
            qs = qs.filter(is_hidden=False)
        if status:
            qs = qs.filter(status=status)
        if favorites:
            qs = qs.filter(is_favorite=True)
        if model:
            qs = qs.filter(model=model)
        if tag:
            qs = qs.filter(pipelinetag__tag__name=tag)
        return created_between(text_search(qs, q), date_from, date_to)

    def for_jobs_page(self):
        """Rows for the Jobs list: only the columns a row shows, plus counts,
        first thumbnail and tags as subqueries evaluated for the page's rows only."""
        first_output = Output.objects.filter(pipeline=OuterRef("pk")).order_by("position", "id")
        return self.only(*Pipeline.LIST_FIELDS).with_tags().annotate(
            step_count=_count(Step.objects.filter(pipeline=OuterRef("pk"))),
            output_count=_count(Output.objects.filter(pipeline=OuterRef("pk"))),
            cover_renditions=Subquery(first_output.values("asset__renditions")[:1]),
            cover_kind=Subquery(first_output.values("asset__kind")[:1]),
        )

    def with_tags(self):
        """Annotate tag_data ('id:name:colour,...') so tags cost no extra query."""
        return self.annotate(
            tag_data=Subquery(
                PipelineTag.objects.filter(pipeline=OuterRef("pk"))
                .order_by()
                .values("pipeline")
                .annotate(s=TagList(Concat("tag_id", Value(":"), "tag__name", Value(":"), "tag__colour")))
                .values("s")
            )
        )

    def jobs_list(self, filters, ordering, cursor, page_size):
        """(page, total) for the Jobs page and GET /api/pipelines.

        The total is counted only for a first page: later pages of an infinite
        scroll don't show it, so they don't pay for it.
        """
        pipelines = self.filtered(**filters)
        page = paginate(pipelines.for_jobs_page(), ordering, cursor, page_size)
        total = None if cursor else pipelines.count_for_list()
        return page, total

    def apply_bulk(self, action, owner, tag_name=""):
        """Apply a bulk action to these pipelines (already scoped to `owner`)."""
        if action == "delete":
            # By subquery, children first: no step or output is loaded, and no per-row signal (i2v.lib.bulk).
            with transaction.atomic():
                delete_rows(self)
        elif action == "tag":
            tag = Tag.objects.for_name(owner.id, tag_name)
            PipelineTag.objects.bulk_create(
                [PipelineTag(pipeline_id=pk, tag=tag) for pk in self.values_list("pk", flat=True)],
                ignore_conflicts=True,
            )
        else:
            field, value = {
                "favorite": ("is_favorite", True),
                "unfavorite": ("is_favorite", False),
                "hide": ("is_hidden", True),
                "unhide": ("is_hidden", False),
            }[action]
            self.update(**{field: value, "updated_at": timezone.now()})
        # update() and bulk_create() send no signals: invalidate the lists here.
        bump_on_commit("jobs", owner.id)

    def create_from_request(self, owner, cleaned):
        """A new pipeline from a validated request (NewPipelineForm.cleaned_data,
        or a rerun's copy of one), with its first stage's steps queued.

        The steps' messages leave on commit, so a worker never looks for a
        step the request hasn't committed yet; the request itself returns at once.
        """
        config = {key: cleaned[key] for key in ("sources", "prompts", "i2i", "i2v")}
        first_stage = config["i2i"] or config["i2v"]
        with transaction.atomic():
            pipeline = Pipeline(
                owner=owner, name=cleaned["name"], description=cleaned.get("description", ""),
                mode=cleaned.get("mode") or Pipeline.Mode.AUTO, model=first_stage["model"],
                first_prompt=config["prompts"][0][:500], config=config, planned_steps=Pipeline.plan(config),
            )  # fmt: skip
            pipeline.set_search_text(config["prompts"])
            pipeline.save()
            for name in cleaned.get("tags", ()):
                pipeline.add_tag(name)
            kind = Step.Kind.I2I if config["i2i"] else Step.Kind.I2V
            inputs = [(asset_id, prompt) for asset_id in config["sources"] for prompt in config["prompts"]]
            pipeline.add_stage(kind, inputs, Step.Status.QUEUED)
            pipeline.status = Pipeline.Status.RUNNING
            pipeline.save(update_fields=["status", "updated_at"])
        return pipeline

    def count_for_list(self):
        return count_for_list(self)


def _instant(moment):
    # Second precision in UTC ("2026-03-10T08:15:00Z"): all a script needs, and short.
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(qs):
    return Coalesce(
        Subquery(qs.order_by().values("pipeline").annotate(n=Count("*")).values("n")),
        0,
    )


class Pipeline(models.Model):
    # Sorts of the Jobs list; each ends on the primary key so the order is unique,
    # and each has a matching index below.
    ORDERINGS = {
        o.name: o
        for o in (
            Ordering("newest", (("created_at", True), ("id", True))),
            Ordering("oldest", (("created_at", False), ("id", False))),
            Ordering("name", (("name", False), ("id", False))),
            Ordering("cost", (("total_cost", True), ("id", True))),
        )
    }

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Mode(models.TextChoices):
        MANUAL = "manual"
        AUTO = "auto"
        CHECKPOINT = "checkpoint"

    ACTIVE = (Status.PENDING, Status.RUNNING)
    # What a Jobs row shows; the list query loads nothing else (not description, not search_text).
    LIST_FIELDS = (
        "id", "owner_id", "name", "status", "mode", "model", "first_prompt",
        "is_favorite", "is_hidden", "total_cost", "created_at", "planned_steps", "progress_done",
    )  # fmt: skip

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AUTO)
    description = models.TextField(blank=True)
    is_favorite = models.BooleanField(default=False)
    is_hidden = models.BooleanField(default=False)
    tags = models.ManyToManyField(Tag, through="PipelineTag", related_name="pipelines", blank=True)
    # Denormalised from the steps so the list can show and filter them without joins:
    # the main generation model, the first prompt, and lowercased name + prompts for search.
    model = models.CharField(max_length=64, blank=True)
    first_prompt = models.CharField(max_length=500, blank=True)
    search_text = models.TextField(blank=True)
    total_cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # What was asked for: {"sources": [asset ids], "prompts": [...], "i2i": {...} | None,
    # "i2v": {...} | None}. Steps are made from it stage by stage, and a rerun copies it.
    # Database defaults too, so writers that name their columns (seed_demo's COPY) still work.
    config = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()), blank=True)
    # "step 7 of 24" on the Jobs row without counting steps per row: the executor
    # keeps both up to date (planned grows to the real count once a stage exists).
    planned_steps = models.PositiveIntegerField(default=0, db_default=0)
    progress_done = models.PositiveIntegerField(default=0, db_default=0)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        indexes = [
            # Default Jobs view (newest/oldest, not hidden, optional date range):
            # owner=? AND NOT is_hidden ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="pipe_visible_created",
                condition=models.Q(is_hidden=False),
            ),
            # hidden=include (everything): owner=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "-created_at", "-id"], name="pipe_owner_created"),
            # hidden=only, small however big the account: owner=? AND is_hidden ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], name="pipe_hidden_created", condition=models.Q(is_hidden=True)
            ),
            # Status filter: owner=? AND status=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "status", "-created_at", "-id"], name="pipe_status_created"),
            # Model filter: owner=? AND model=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "model", "-created_at", "-id"], name="pipe_model_created"),
            # Favourites filter: owner=? AND is_favorite AND NOT is_hidden ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="pipe_favorite_created",
                condition=models.Q(is_favorite=True, is_hidden=False),
            ),
            # Sort by name, hidden or not: owner=? [AND NOT is_hidden] ORDER BY name, id
            models.Index(fields=["owner", "name", "id"], name="pipe_owner_name"),
            # Sort by cost, hidden or not: owner=? [AND NOT is_hidden] ORDER BY total_cost DESC, id DESC
            models.Index(fields=["owner", "-total_cost", "-id"], name="pipe_owner_cost"),
            # (PostgreSQL only, in migration 0002: a trigram GIN index on search_text for ?q=.)
        ]

    def __str__(self):
        return self.name

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def model_label(self):
        return settings.GENERATION_MODELS.get(self.model, {}).get("label", self.model)

    @property
    def tag_chips(self):
        """Tags of a list row, decoded from the tag_data annotation (sorted by name)."""
        data = self.tag_data  # from with_tags(): a row loaded without it is a bug, not a query
        if not data:
            return []
        chips = []
        for item in data.split(","):
            tag_id, name, colour = item.split(":")
            chips.append({"id": int(tag_id), "name": name, "colour": colour})
        return sorted(chips, key=lambda c: c["name"])

    @property
    def cover(self):
        return rendition(getattr(self, "cover_renditions", None), 150)

    def toggle(self, field):
        setattr(self, field, not getattr(self, field))
        self.save(update_fields=[field, "updated_at"])

    def add_tag(self, name):
        self.tags.add(Tag.objects.for_name(self.owner_id, name))

    def outputs_page(self, cursor=None, page_size=50):
        """One page of this pipeline's outputs with their assets (one query)."""
        page = paginate(
            self.outputs.select_related("asset", "step").only(*Output.GRID_FIELDS),
            Output.ORDERING,
            cursor,
            page_size,
        )
        return {"outputs": page}

    def as_summary(self):
        """A list item of GET /api/pipelines, under 300 bytes (20 must fit in 6 KB).

        Prompts, description and the hidden flag are in the detail; ?hidden=only
        lists the hidden ones.
        """
        cover = self.cover
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "model": self.model,
            "cost": str(self.total_cost),
            "created_at": _instant(self.created_at),
            "is_favorite": self.is_favorite,
            "step_count": self.step_count,
            "output_count": self.output_count,
            "thumbnail_url": cover["url"] if cover else None,
            "tags": [t["name"] for t in self.tag_chips],
        }

    def as_detail(self, steps, outputs):
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "mode": self.mode,
            "model": self.model,
            "cost": str(self.total_cost),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "is_favorite": self.is_favorite,
            "is_hidden": self.is_hidden,
            "tags": [t["name"] for t in self.tag_chips],
            "progress": {"done": self.progress_done, "planned": self.planned_steps},
            "steps": [s.as_json() for s in steps],
            "outputs": [o.as_json() for o in outputs.items],
            "outputs_pagination": pagination_json(outputs),
        }

    @staticmethod
    def plan(config):
        """Steps the config will make: one per (source, prompt) in the first stage,
        and one i2v step per i2i image when both stages are on."""
        pairs = len(config["sources"]) * len(config["prompts"])
        if config["i2i"] and config["i2v"]:
            return pairs + pairs * config["i2i"]["images_per_prompt"]
        return pairs

    def add_stage(self, kind, inputs, status):
        """Create the steps of one stage from (asset id, prompt) pairs; queued ones are sent on commit."""
        stage = self.config["i2i" if kind == Step.Kind.I2I else "i2v"]
        start = self.steps.count()
        steps = Step.objects.bulk_create(
            Step(
                owner_id=self.owner_id, pipeline=self, kind=kind, order=start + n, status=status,
                config={**stage, "prompt": prompt}, inputs={"asset_id": asset_id},
                cost_estimate=Step.estimate(kind, stage), sent_at=timezone.now() if status == Step.Status.QUEUED else None,
            )  # fmt: skip
            for n, (asset_id, prompt) in enumerate(inputs)
        )
        if status == Step.Status.QUEUED:
            Step.objects.send_on_commit(steps)
        return steps

    def advance(self):
        """Called whenever a step finishes: start the next stage when the first is
        done, then derive status, cost and progress from the steps.

        The pipeline row is locked, so two steps finishing at once can't both
        create the i2v stage.
        """
        with transaction.atomic():
            pipeline = Pipeline.objects.select_for_update().filter(pk=self.pk).first()
            if pipeline is None:
                return None  # deleted while its last step ran
            pipeline._start_i2v_stage_if_due()
            pipeline.refresh_progress()
        return pipeline

    def _start_i2v_stage_if_due(self):
        if not (self.config.get("i2i") and self.config.get("i2v")):
            return
        if self.steps.filter(kind=Step.Kind.I2V).exists():
            return  # already started
        if self.steps.filter(kind=Step.Kind.I2I).exclude(status=Step.Status.COMPLETED).exists():
            return  # failed i2i steps wait for a retry: their images would be missing from the videos
        images = self.outputs.filter(step__kind=Step.Kind.I2I, asset__kind="image").select_related("step")
        inputs = [(o.asset_id, o.step.prompt) for o in images.order_by("position", "id")]
        paused = self.mode == Pipeline.Mode.CHECKPOINT
        self.add_stage(Step.Kind.I2V, inputs, Step.Status.REVIEW if paused else Step.Status.QUEUED)

    def refresh_progress(self):
        counts = dict(self.steps.order_by().values_list("status").annotate(n=Count("id")))
        active = counts.get(Step.Status.QUEUED, 0) + counts.get(Step.Status.RUNNING, 0)
        if active:
            status = Pipeline.Status.RUNNING
        elif counts.get(Step.Status.REVIEW):
            status = Pipeline.Status.PAUSED
        elif counts.get(Step.Status.FAILED):
            status = Pipeline.Status.FAILED
        elif counts.get(Step.Status.CANCELLED):
            status = Pipeline.Status.CANCELLED
        elif counts.get(Step.Status.PENDING):
            status = Pipeline.Status.PENDING
        else:
            status = Pipeline.Status.COMPLETED
        self.status = status
        self.total_cost = self.steps.aggregate(c=Coalesce(Sum("cost_actual"), Decimal("0")))["c"]
        self.progress_done = counts.get(Step.Status.COMPLETED, 0)
        self.planned_steps = max(sum(counts.values()), self.planned_steps if self._stage_missing() else 0)
        self.save(update_fields=["status", "total_cost", "progress_done", "planned_steps", "updated_at"])

    def _stage_missing(self):
        # While the i2v stage doesn't exist yet, the plan still counts its steps.
        return bool(self.config.get("i2i") and self.config.get("i2v")) and not self.steps.filter(kind=Step.Kind.I2V).exists()

    def cancel(self):
        """Stop everything: waiting steps are cancelled, and running ones see it at their next heartbeat."""
        stoppable = (Step.Status.PENDING, Step.Status.QUEUED, Step.Status.RUNNING, Step.Status.REVIEW)
        with transaction.atomic():
            self._lock()
            self.steps.filter(status__in=stoppable).update(status=Step.Status.CANCELLED, finished_at=timezone.now())
            self.refresh_progress()

    def _lock(self):
        # The same lock advance() takes: an action and a finishing step never interleave.
        Pipeline.objects.select_for_update().filter(pk=self.pk).first()

    def retry_failed(self):
        """Failed steps get a fresh set of attempts; the number re-queued."""
        with transaction.atomic():
            self._lock()
            steps = list(self.steps.filter(status=Step.Status.FAILED))
            self.steps.filter(pk__in=[s.pk for s in steps]).update(
                status=Step.Status.QUEUED, attempts=0, error="", progress=0, finished_at=None, sent_at=timezone.now()
            )
            Step.objects.send_on_commit(steps)
            self.refresh_progress()
        return len(steps)

    def approve(self):
        """Checkpoint mode: run the stage waiting for review."""
        with transaction.atomic():
            self._lock()
            steps = list(self.steps.filter(status=Step.Status.REVIEW))
            self.steps.filter(pk__in=[s.pk for s in steps]).update(status=Step.Status.QUEUED, sent_at=timezone.now())
            Step.objects.send_on_commit(steps)
            self.refresh_progress()
        return len(steps)

    @property
    def can_rerun(self):
        # Pipelines made before the New pipeline page (imports, seed data) have no config to copy.
        return bool(self.config.get("prompts") and self.config.get("sources"))

    def rerun(self):
        """A new pipeline with the same sources, prompts and settings."""
        cleaned = {
            **self.config, "name": self.name, "description": self.description, "mode": self.mode,
            "tags": list(self.tags.values_list("name", flat=True)),
        }  # fmt: skip
        return Pipeline.objects.create_from_request(self.owner, cleaned)

    def set_search_text(self, prompts=()):
        self.search_text = " ".join([self.name, *prompts]).lower()

    def rename(self, name):
        prompts = self.search_text[len(self.name) + 1 :] if self.search_text else ""
        self.name = name
        self.search_text = f"{name} {prompts}".lower().strip()
        self.save(update_fields=["name", "search_text", "updated_at"])


class PipelineTag(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pipeline", "tag"], name="pipetag_uniq")]
        indexes = [
            # Tag filter: pipelines of one tag, joined from the tag side: tag_id=? AND pipeline_id=?
            models.Index(fields=["tag", "pipeline"], name="pipetag_tag_pipeline"),
        ]


class Cancelled(Exception):
    """The step was cancelled (or taken over) while it ran: stop, charge nothing more."""


class SweepResult(tuple):
    def __new__(cls, requeued, failed, resent):
        return super().__new__(cls, (requeued, failed, resent))

    def summary(self):
        requeued, failed, resent = self
        return f"sweep_steps: {requeued} stale steps re-queued, {failed} failed for good, {resent} messages re-sent"


def provider_of(model_id):
    return settings.GENERATION_MODELS.get(model_id, {}).get("provider", "")


class StepQuerySet(models.QuerySet):
    def send_on_commit(self, steps):
        ids = [step.pk for step in steps]
        if ids:
            transaction.on_commit(partial(send_steps, ids))

    def claim(self, step_id):
        """Take step `step_id` for this worker, or None when it isn't this message's to run.

        One conditional UPDATE: of two deliveries of the same message only one
        finds the step queued. A step over its provider's concurrency limit is
        handed back (queued, message re-sent later) and None returned.
        """
        now = timezone.now()
        claimed = self.filter(pk=step_id, status=Step.Status.QUEUED).update(
            status=Step.Status.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, sent_at=None
        )
        if not claimed:
            return None
        step = self.select_related("pipeline").get(pk=step_id)
        if self.running_for_provider(step.provider) > step.provider_limit:
            # Claim first, count after: two workers racing for the last slot both
            # see the other and back off, rather than both running over the limit.
            delay = settings.GENERATION_CONCURRENCY_RETRY_SECONDS
            if step.mine().update(
                status=Step.Status.QUEUED, attempts=F("attempts") - 1, sent_at=now + datetime.timedelta(seconds=delay)
            ):
                send_steps([step.pk], countdown=delay)
            return None
        return step

    def running_for_provider(self, provider):
        models_of = [m for m, spec in settings.GENERATION_MODELS.items() if spec.get("provider") == provider]
        return self.filter(status=Step.Status.RUNNING, config__model__in=models_of).count()

    def sweep_stale(self, now=None, stale_after=None, resend_after=None):
        """One pass of the step sweeper (Celery beat, every minute; or manage.py sweep_steps).

        - running steps whose heartbeat is older than `stale_after` seconds lost
          their worker (a restart, a kill): re-queued, or failed after the last attempt;
        - queued steps whose message is lost are sent again: those with no message
          in flight, and those due over `resend_after` seconds ago while the
          generation queue is empty (behind a backlog, re-sending would only pile
          duplicates on it; a duplicate finds nothing to claim anyway).
        """
        now = now or timezone.now()
        stale_after = settings.GENERATION_STALE_SECONDS if stale_after is None else stale_after
        resend_after = settings.GENERATION_RESEND_SECONDS if resend_after is None else resend_after
        requeued, failed = self._requeue_stale(now, now - datetime.timedelta(seconds=stale_after))
        resent = self._resend_lost(now, now - datetime.timedelta(seconds=resend_after))
        return SweepResult(requeued, failed, resent)

    def _requeue_stale(self, now, cutoff):
        requeued, failed, touched = [], 0, set()
        with transaction.atomic():
            stale = self.select_for_update(skip_locked=True).filter(
                Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True), status=Step.Status.RUNNING
            )
            for step in stale:
                message = f"The worker stopped during attempt {step.attempts} (no heartbeat since {_instant(step.heartbeat_at or now)})."
                if step.attempts >= settings.GENERATION_MAX_ATTEMPTS:
                    failed += step.mine().update(status=Step.Status.FAILED, error=message, finished_at=now)
                elif step.mine().update(status=Step.Status.QUEUED, error=message, sent_at=now):
                    requeued.append(step)
                touched.add(step.pipeline_id)
            self.send_on_commit(requeued)
        for pipeline in Pipeline.objects.filter(pk__in=touched):
            pipeline.advance()
        return len(requeued), failed

    def _resend_lost(self, now, cutoff):
        sizes = broker_queue_sizes([settings.GENERATION_QUEUE])
        if sizes is None:
            return 0
        lost = Q(sent_at__isnull=True)
        if sizes[settings.GENERATION_QUEUE] == 0:
            lost |= Q(sent_at__lt=cutoff)
        with transaction.atomic():
            steps = list(self.select_for_update(skip_locked=True).filter(lost, status=Step.Status.QUEUED)[:10_000])
            self.filter(pk__in=[s.pk for s in steps]).update(sent_at=now)
            self.send_on_commit(steps)
        return len(steps)


def send_steps(step_ids, countdown=None):
    """Send run_step messages; never raises. With the broker down the row stays
    queued with no message in flight (sent_at empty) and the sweeper sends it later."""
    for step_id in step_ids:
        try:
            current_app.send_task(
                RUN_STEP, args=[step_id], queue=settings.GENERATION_QUEUE, countdown=countdown, retry=False
            )
        except Exception:  # noqa: BLE001 - any broker failure means "send later"
            logger.warning("could not send step %s; the sweeper will retry", step_id, exc_info=True)
            Step.objects.filter(pk=step_id, status=Step.Status.QUEUED).update(sent_at=None)


class Step(models.Model):
    class Kind(models.TextChoices):
        PROMPT_ENHANCE = "prompt_enhance", "prompt enhance"
        I2I = "i2i", "image"
        I2V = "i2v", "video"

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"
        REVIEW = "review"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    order = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    cost_estimate = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    cost_actual = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the queued step's message was sent (or is due, after a countdown); empty
    # when none is in flight. The sweeper re-sends from it.
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = StepQuerySet.as_manager()

    class Meta:
        indexes = [
            # Expanded row and step counts: pipeline_id=? ORDER BY order, id
            models.Index(fields=["pipeline", "order", "id"], name="step_pipeline_order"),
            # Sweeper and provider concurrency: status IN ('running', 'queued') [AND heartbeat_at < ?]
            models.Index(
                fields=["status", "heartbeat_at"], name="step_active_heartbeat",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.order}"

    def as_json(self):
        return {
            "id": self.id,
            "kind": self.kind,
            "order": self.order,
            "status": self.status,
            "progress": self.progress,
            "model": self.model_name,
            "prompt": self.prompt,
            "config": self.config,
            "cost_estimate": str(self.cost_estimate),
            "cost_actual": str(self.cost_actual),
            "error": self.error,
            "attempts": self.attempts,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @property
    def model_name(self):
        return self.config.get("model", "")

    @property
    def provider(self):
        return provider_of(self.model_name)

    @property
    def provider_limit(self):
        return settings.GENERATION_CONCURRENCY.get(self.provider, 1)

    @staticmethod
    def estimate(kind, stage):
        if kind == Step.Kind.I2I:
            return estimate_cost(stage["model"], images=stage["images_per_prompt"])
        return estimate_cost(stage["model"], video_seconds=stage["duration"] * stage["videos_per_image"])

    def mine(self):
        """This step's row while this run still owns it: once the sweeper re-queues
        it or the user cancels it, the run's writes match nothing."""
        return Step.objects.filter(pk=self.pk, status=Step.Status.RUNNING, attempts=self.attempts)

    def beat(self, note=None):
        """on_progress for providers: record the heartbeat, or stop if the step is no longer ours."""
        if not self.mine().update(heartbeat_at=timezone.now()):
            raise Cancelled(f"step {self.pk} was cancelled or taken over")

    def source_bytes(self):
        asset_id = self.inputs.get("asset_id") if isinstance(self.inputs, dict) else None
        if not isinstance(asset_id, int):
            raise ProviderError("This step names no source image, so it can't run; rerun the pipeline.")
        asset = Asset.objects.filter(pk=asset_id, owner_id=self.owner_id).first()
        try:
            if asset is None:
                raise FileNotFoundError
            with asset.original.open("rb") as f:
                return f.read()
        except FileNotFoundError:
            # Deleted from the library since the pipeline was made: no retry will bring it back.
            raise ProviderError(f"The source image #{self.inputs['asset_id']} is no longer in the library.") from None

    def complete(self, files, cost):
        """Store the files as assets with outputs and mark the step completed, all
        or nothing; False if the step stopped being ours meanwhile."""
        now = timezone.now()
        with transaction.atomic():
            done = self.mine().update(
                status=Step.Status.COMPLETED, cost_actual=cost, progress=100, finished_at=now, heartbeat_at=now, error=""
            )
            if not done:
                return False
            for position, file in enumerate(files):
                asset = store_generated(self.owner_id, file, self.prompt)
                Output.objects.create(
                    owner_id=self.owner_id, step=self, pipeline_id=self.pipeline_id, asset=asset,
                    position=self.order * 10 + position,
                )  # fmt: skip
        return True

    def fail(self, message, retryable=False):
        """A failed attempt: re-queued with backoff while attempts remain and a retry may help."""
        if retryable and self.attempts < settings.GENERATION_MAX_ATTEMPTS:
            delay = settings.GENERATION_BACKOFF_SECONDS * 4 ** (self.attempts - 1)
            due = timezone.now() + datetime.timedelta(seconds=delay)
            if self.mine().update(status=Step.Status.QUEUED, error=message, sent_at=due):
                send_steps([self.pk], countdown=delay)
            return
        self.mine().update(status=Step.Status.FAILED, error=message, finished_at=timezone.now())

    def mark_cancelled(self):
        self.mine().update(status=Step.Status.CANCELLED, finished_at=timezone.now())

    @property
    def model_label(self):
        return settings.GENERATION_MODELS.get(self.model_name, {}).get("label", self.model_name)

    @property
    def prompt(self):
        return self.config.get("prompt", "")


def store_generated(owner_id, file, prompt):
    """The Asset for a generated file: stored once per owner by content (sha256),
    through the storage API, and given renditions like any upload."""
    sha256 = hashlib.sha256(file.data).hexdigest()
    existing = Asset.objects.filter(owner_id=owner_id, sha256=sha256).first()
    if existing:
        return existing
    name = original_path(Asset(owner_id=owner_id, sha256=sha256), f"generated.{file.extension}")
    store_once(name, ContentFile(file.data))  # in the owner's folder; withdrawn from the media collector first
    asset, created = Asset.objects.get_or_create(
        owner_id=owner_id, sha256=sha256,
        defaults={
            "kind": file.kind, "source": Asset.Source.GENERATED, "original": name, "prompt": prompt,
            "filename": f"{sha256[:12]}.{file.extension}", "mime": file.mime, "bytes": file.size,
            "width": file.width, "height": file.height, "duration": file.duration,
        },
    )  # fmt: skip
    if created:
        ProcessingJob.objects.schedule_upload(asset)
    return asset


class Output(models.Model):
    ORDERING = Ordering("position", (("position", False), ("id", False)))
    # What a grid tile needs; the asset's exif and other heavy fields stay in the database.
    GRID_FIELDS = (
        "id", "position", "pipeline_id", "step_id", "step__kind", "step__order",
        "asset__id", "asset__kind", "asset__renditions", "asset__original", "asset__width", "asset__height",
        "asset__mime", "asset__duration", "asset__prompt",
    )  # fmt: skip

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="outputs")
    # Denormalised from step so counting and listing a pipeline's outputs is one index range.
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="outputs")
    asset = models.ForeignKey("library.Asset", on_delete=models.PROTECT, related_name="outputs")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # Output grid, output counts and first thumbnail: pipeline_id=? ORDER BY position, id
            models.Index(fields=["pipeline", "position", "id"], name="output_pipeline_position"),
        ]

    def as_json(self):
        asset = self.asset
        thumb = asset.rendition(300)
        return {
            "id": self.id,
            "position": self.position,
            "step_id": self.step_id,
            "asset_id": asset.id,
            "kind": asset.kind,
            "width": asset.width,
            "height": asset.height,
            "thumbnail_url": thumb["url"] if thumb else None,
            "poster_url": thumb["url"] if thumb and asset.kind == "video" else None,
            "original_url": asset.original_url,
        }
