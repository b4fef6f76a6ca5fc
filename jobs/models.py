"""The pipeline domain: pipelines, their steps (one planned output each), outputs and tags.

What runs a step lives elsewhere: the executor (executor.py), the life of each
paid request (remote.py), the providers (providers/), the model catalog and its
prices (catalog.py), and what the Jobs list loads and shows (listing.py).
"""

import logging
from contextlib import contextmanager
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from i2v.lib.bulk import delete_rows
from i2v.lib.cache import bump_on_commit
from i2v.lib.compiled import rows_by_keys
from i2v.lib.jsonout import instant
from i2v.lib.pagination import Ordering, Total, paginate_by, pagination_json
from i2v.lib.ratelimit import QuotaExceeded
from i2v.lib.workqueue import Ref, Superseded, WorkItem, WorkQueueQuerySet, WorkSpec
from library.models import Asset
from library.parameters import format_text

from .catalog import bill, provider_of
from .events import pipeline_ended
from .listing import PipelineListQuerySet, PipelineRow
from .providers import SEED_MAX, ProviderError, get_provider, synchronous_providers

logger = logging.getLogger(__name__)
RUN_STEP = "jobs.tasks.run_step"
DISPATCH_STEPS = "jobs.tasks.dispatch_steps"
QUOTA_RETRY_AFTER = 60  # seconds a user over the steps-in-flight quota is asked to wait

TAG_NAME = RegexValidator(r"^[a-z0-9-]{1,40}$", "Tags use lowercase letters, digits and dashes (at most 40).")
# Tags a pipeline may carry: what a row can show, and what keeps its tag names (held in
# the list indexes' entries on PostgreSQL, jobs migration 0014) far below the 2,704 bytes
# an index entry may take (20 of 40 characters: 840 bytes).
MAX_TAGS = 20
TOO_MANY_TAGS = f"A pipeline has at most {MAX_TAGS} tags: remove one first."
COLOUR = RegexValidator(r"^#[0-9a-f]{6}$", "Colours look like #a1b2c3.")
TAG_PALETTE = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#ec4899", "#8b5cf6", "#14b8a6"]


class TagQuerySet(models.QuerySet):
    def for_name(self, owner_id, name):
        tag, _ = self.get_or_create(owner_id=owner_id, name=name, defaults={"colour": Tag.colour_for(name)})
        return tag

    def offered(self, chosen=""):
        """The tags worth filtering by: those on a pipeline (one whose pipelines were all deleted or untagged
        would list nothing), and the one `chosen`, so the filter still shows what it is set to."""
        # A union, not an OR: with the OR, PostgreSQL read the links table from its start for each tag (70 ms at
        # a million pipelines with one tag unused), where EXISTS alone probes its tag index (0.3 ms).
        linked = self.filter(Exists(PipelineTag.objects.filter(tag=OuterRef("pk"))))
        return linked.order_by().union(self.filter(name=chosen).order_by()).order_by("name") if chosen else linked

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


class PipelineQuerySet(PipelineListQuerySet):
    def lock(self, pk):
        """Hold pipeline `pk`'s row until the transaction ends (nothing if it is gone).

        Whatever writes a pipeline's steps or outputs takes this first, then the steps':
        its actions (cancel, retry, approve) and advance() lock it to update its steps, and
        an output written makes the database's trigger update its counts (migration 0019).
        A step finishing that locked its own row first and then wrote an output would wait
        for a cancel waiting for that step: a deadlock."""
        self.filter(pk=pk).lock_all()

    def lock_all(self):
        """lock() each of these pipelines (a bulk action's: a page of them at most), in the order of their
        keys, so that two bulk actions over the same pipelines wait for one another rather than deadlock."""
        list(self.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))

    def apply_bulk(self, action, owner, tag_name=""):
        """Apply a bulk action to these pipelines (already scoped to `owner`); the ids of
        those it had to leave as they were (a tag for pipelines with MAX_TAGS already)."""
        left = []
        if action == "delete":
            # By subquery, children first: no step or output is loaded, and no per-row signal (i2v.lib.bulk).
            # The pipelines' rows are taken first, as a step finishing takes its pipeline's (lock()):
            # deleting its step under it, the output it was writing broke the step's foreign key
            # at commit; now one waits for the other, and the step finds itself gone.
            with transaction.atomic():
                self.lock_all()
                delete_rows(self)
        elif action == "tag":
            tag = Tag.objects.for_name(owner.id, tag_name)
            with transaction.atomic():
                # Each link inserted takes its pipeline's row (jobs migration 0035): all of them first, in order.
                self.lock_all()
                left = list(self.with_all_their_tags().exclude(tags=tag).values_list("pk", flat=True))
                PipelineTag.objects.bulk_create(
                    [PipelineTag(pipeline_id=pk, tag=tag) for pk in self.exclude(pk__in=left).values_list("pk", flat=True)],
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
        return left

    def with_all_their_tags(self):
        """These pipelines that carry MAX_TAGS tags already."""
        return self.alias(tag_count=Count("tags")).filter(tag_count__gte=MAX_TAGS)

    def create_from_request(self, owner, cleaned):
        """A new pipeline from a validated request (NewPipelineForm.cleaned_data,
        or a rerun's copy of one), with its first stage's steps queued.

        The steps go in with one bulk insert and no message each: one dispatch
        message leaves on commit, and the dispatcher sends as many steps as the
        provider has places for. A plan of more than GENERATION_EXPAND_INLINE_STEPS
        is only marked `expanding`: the dispatcher (woken by that same message, or
        the sweeper's next pass if it is lost) makes its steps, so a 2,000-step
        request answers in a few milliseconds of inserts, not a second of them.
        """
        config = {key: cleaned[key] for key in ("sources", "prompts", "i2i", "i2v")}
        first_stage = config["i2i"] or config["i2v"]
        enhance = bool(cleaned.get("enhance_prompts"))
        if enhance:
            # Its first step rewrites the prompts (prompts/enhance.py); the first stage is made from them after.
            config["enhance"] = True
        with transaction.atomic():
            planned = Pipeline.plan(config) + enhance
            first_steps = planned if not config["i2i"] or not config["i2v"] else Pipeline.plan({**config, "i2v": None})
            pipeline = Pipeline(
                owner=owner, name=cleaned["name"], description=cleaned.get("description", ""),
                mode=cleaned.get("mode") or Pipeline.Mode.AUTO, model=first_stage["model"],
                first_prompt=config["prompts"][0][:500], config=config, planned_steps=planned,
                status=Pipeline.Status.RUNNING, expanding=not enhance and first_steps > settings.GENERATION_EXPAND_INLINE_STEPS,
            )  # fmt: skip
            pipeline.set_search_text(config["prompts"])
            if pipeline.expanding:
                pipeline.activity = f"making {first_steps:,} steps"
            pipeline.save()
            # A new pipeline has none yet, and the form lets at most MAX_TAGS through.
            pipeline.tags.add(*(Tag.objects.for_name(owner.id, name) for name in cleaned.get("tags", ())))
            if pipeline.expanding:
                bump_on_commit("jobs", owner.id)
                Step.objects.wake_dispatcher()
            else:
                pipeline._add_enhance_step() if enhance else pipeline._add_first_stage()
                pipeline.refresh_progress()
        return pipeline

    def expand_due(self, limit=5):
        """Make the first stage's steps of pipelines created `expanding`; the number
        expanded. Each is locked and checked again, so two dispatchers never both
        make them, and a pipeline cancelled or deleted meanwhile gets none."""
        expanded = 0
        for pk in self.filter(expanding=True).order_by("id").values_list("id", flat=True)[:limit]:
            with transaction.atomic():
                pipeline = self.select_for_update(skip_locked=True).filter(pk=pk, expanding=True).first()
                if pipeline is None:
                    continue
                pipeline.expanding = False
                pipeline.save(update_fields=["expanding"])
                pipeline._add_first_stage()
                pipeline.refresh_progress()
                expanded += 1
        return expanded

    def planned_unmade(self, owner):
        """Steps planned by `owner`'s pipelines still expanding: in flight for the quota."""
        return self.filter(owner=owner, expanding=True).aggregate(n=Coalesce(Sum("planned_steps"), 0))["n"]


class Pipeline(PipelineRow, models.Model):
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
        "is_favorite", "is_hidden", "total_cost", "created_at", "planned_steps", "progress_done", "activity",
        "step_count", "output_count",
        "updated_at",  # the row's version for live updates (listing.row_version)
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
    # What is going on, in a few words for the row ("3 at fal, next in queue #2 · 1 failed").
    activity = models.CharField(max_length=120, blank=True, default="", db_default="")
    # How many steps and outputs the pipeline has, for its Jobs row: counted per row, a
    # 2,000-step pipeline cost its page 2,000 index entries of each (and a heap read each
    # while its steps change). Kept by triggers on jobs_step and jobs_output, for every
    # writer (migration 0019), never written here. No CHECK (>= 0): validating one scans the
    # table under lock, and a miscount would then fail the writes that moved it.
    step_count = models.IntegerField(default=0, db_default=0, editable=False)
    output_count = models.IntegerField(default=0, db_default=0, editable=False)
    # Accepted with more steps than a request makes: the dispatcher makes them (expand_due).
    expanding = models.BooleanField(default=False, db_default=False)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        indexes = [  # fmt: skip
            # Each list index carries the other filter columns (INCLUDE, PostgreSQL), so any
            # combination of status, model, favourite and hidden (and the cost, to sort by) is read from the index
            # (an index-only scan), never row by row in the table: "status=pending&hidden=only"
            # reads 20,000 index entries, not 20,000 rows. On PostgreSQL they hold the tag names
            # too (migration 0014 rebuilds them so: tag_names is no model field). The tag and the
            # text search share GIN indexes with status and model, one per view (migration 0013).
            # Default Jobs view (newest/oldest, not hidden, optional date range):
            # owner=? AND NOT is_hidden [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "total_cost"],
                name="pipe_visible_cover", condition=models.Q(is_hidden=False),
            ),
            # hidden=include (everything): owner=? [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_created_cover",
            ),
            # hidden=only, small however big the account: owner=? AND is_hidden [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "total_cost"],
                name="pipe_hidden_cover", condition=models.Q(is_hidden=True),
            ),
            # Status filter: owner=? AND status=? [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "status", "-created_at", "-id"], include=["model", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_status_cover",
            ),
            # Model filter: owner=? AND model=? [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "model", "-created_at", "-id"], include=["status", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_model_cover",
            ),
            # Favourites filter: owner=? AND is_favorite AND NOT is_hidden [AND ...] ORDER BY created_at DESC, id DESC
            models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "total_cost"],
                name="pipe_favorite_cover", condition=models.Q(is_favorite=True, is_hidden=False),
            ),
            # Sort by name, hidden or not: owner=? [AND NOT is_hidden AND ...] ORDER BY name, id
            models.Index(
                fields=["owner", "name", "id"], include=["created_at", "status", "model", "is_favorite", "is_hidden"],
                name="pipe_name_cover",
            ),
            # Sort by cost, hidden or not: owner=? [AND NOT is_hidden AND ...] ORDER BY total_cost DESC, id DESC
            models.Index(
                fields=["owner", "-total_cost", "-id"], include=["created_at", "status", "model", "is_favorite", "is_hidden"],
                name="pipe_cost_cover",
            ),
            # The dispatcher's look for pipelines whose steps are still to be made: empty nearly always.
            models.Index(fields=["id"], name="pipe_expanding", condition=models.Q(expanding=True)),
            # (PostgreSQL only, in migration 0013: GIN indexes of search_text's trigrams, tag_names,
            # status and model, for the visible, the hidden and the favourite pipelines; in 0015,
            # each day's pipelines by cost; in 0016, each status's by cost (and in 0031, the hidden ones' and the
            # visible favourites'); in 0021, the trigrams of
            # each status's visible pipelines but the completed ones'; in 0022, 0025 and 0026, each
            # text's characters, joined words and pairs of characters: i2v/lib/filters.py text_search().)
        ]

    def __str__(self):
        return self.name

    COUNTED = ("step_count", "output_count")  # the database's triggers' to write (migration 0019)

    def save(self, *args, **kwargs):
        # A full save of a row read before its steps were made would write its counts back as they were then.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            skipped = {*self.COUNTED, *self.get_deferred_fields()}
            kwargs["update_fields"] = [f.attname for f in self._meta.concrete_fields if not f.primary_key and f.attname not in skipped]
        super().save(*args, **kwargs)

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    def toggle(self, field):
        setattr(self, field, not getattr(self, field))
        self.save(update_fields=[field, "updated_at"])

    def add_tag(self, name):
        """Tag this pipeline `name` (a no-op if it is already); ValidationError past MAX_TAGS."""
        if self.tags.count() >= MAX_TAGS and not self.tags.filter(name=name).exists():
            raise ValidationError(TOO_MANY_TAGS)
        self.tags.add(Tag.objects.for_name(self.owner_id, name))

    def remove_tag(self, tag_id):
        """Untag this pipeline. Its row is taken first: a link holds the pipeline's cost (jobs migration 0035),
        which a step completing writes to the pipeline's row and then to its links; deleting the link first and
        then writing the pipeline's tag names (migration 0010's trigger) would take them the other way round, a
        deadlock with that step."""
        with transaction.atomic():
            Pipeline.objects.lock(self.pk)
            self.tags.remove(tag_id)

    def outputs_page(self, cursor=None, page_size=50):
        """One page of this pipeline's outputs, then their assets by id (two queries, each
        compiled once: i2v/lib/compiled.py).

        Not one join: with the asset table's statistics older than a new pipeline's assets (until
        the next ANALYZE), PostgreSQL merge-joined the page's few outputs with the asset table's
        whole primary key, 0.6 s at a million assets for a 5-output pipeline."""
        page = paginate_by(Output, _output_tiles, "pipeline", self.id, Output.ORDERING, cursor, page_size)
        Asset, asset = Output.asset.field.related_model, Output.asset.field
        assets = {a.id: a for a in rows_by_keys(Asset, _asset_tiles, None, [o.asset_id for o in page.items], Asset.objects.db)}
        for output in page.items:
            asset.set_cached_value(output, assets[output.asset_id])
        return {"outputs": page}

    def as_detail(self, summary, steps, outputs, steps_total):
        """GET /api/pipelines/<id>: `summary` (jobs/detail.py) and one page each of steps and outputs."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "mode": self.mode,
            "model": self.model,
            "cost": str(self.total_cost),
            "created_at": instant(self.created_at),
            "updated_at": instant(self.updated_at),
            "is_favorite": self.is_favorite,
            "is_hidden": self.is_hidden,
            "tags": [t["name"] for t in self.tag_chips],
            "step_count": self.step_count,
            "output_count": self.output_count,
            "progress": {"done": self.progress_done, "planned": self.planned_steps, "activity": self.activity},
            "step_summary": [g.as_json() for g in summary.groups],
            "steps": [s.as_json() for s in steps.items],
            "steps_pagination": pagination_json(steps, Total(steps_total)),
            "outputs": [o.as_json() for o in outputs.items],
            "outputs_pagination": pagination_json(outputs, Total(self.output_count)),
        }

    # --- The plan: one step per planned output ------------------------------------------------

    @staticmethod
    def plan(config):
        """Steps (= outputs) the config will make: sources x prompts x images in the
        image stage, and videos of each of its images (or of each source) in the video stage."""
        pairs = len(config["sources"]) * len(config["prompts"])
        images = pairs * config["i2i"]["images_per_prompt"] if config["i2i"] else 0
        videos = (images if config["i2i"] else pairs) * config["i2v"]["videos_per_image"] if config["i2v"] else 0
        return images + videos

    @staticmethod
    def estimate(config):
        """What the config costs, from the catalog's bill() of each planned output."""
        pairs = len(config["sources"]) * len(config["prompts"])
        cost = Decimal("0")
        images = 0
        if config["i2i"]:
            images = pairs * config["i2i"]["images_per_prompt"]
            cost += images * bill(config["i2i"]["model"], config["i2i"]).total
        if config["i2v"]:
            videos = (images if config["i2i"] else pairs) * config["i2v"]["videos_per_image"]
            cost += videos * bill(config["i2v"]["model"], config["i2v"]).total
        return cost

    def _add_enhance_step(self):
        Step.objects.create(
            owner_id=self.owner_id, pipeline=self, kind=Step.Kind.PROMPT_ENHANCE, order=0, status=Step.Status.QUEUED,
            provider="llm", config={"model": settings.PROMPT_LLM_MODEL, "prompts": self.config["prompts"], "enhanced": []},
            inputs={}, available_at=timezone.now(),
        )  # fmt: skip
        Step.objects.wake_dispatcher()

    def _start_first_stage_if_enhanced(self):
        """Once the prompts are rewritten, they become the pipeline's prompts and its first stage is made."""
        if not self.config.get("enhance") or self.steps.exclude(kind=Step.Kind.PROMPT_ENHANCE).exists():
            return
        done = self.steps.filter(kind=Step.Kind.PROMPT_ENHANCE, status=Step.Status.COMPLETED).values_list("config", flat=True).first()
        if not done:
            return
        self.config = {**self.config, "original_prompts": self.config["prompts"], "prompts": done["enhanced"]}
        self.first_prompt = done["enhanced"][0][:500]
        self.set_search_text(self.config["original_prompts"] + done["enhanced"])
        self.save(update_fields=["config", "first_prompt", "search_text", "updated_at"])
        self._add_first_stage()

    def _add_first_stage(self):
        kind = Step.Kind.I2I if self.config["i2i"] else Step.Kind.I2V
        inputs = [(asset_id, prompt) for asset_id in self.config["sources"] for prompt in self.config["prompts"]]
        self.add_stage(kind, inputs, Step.Status.QUEUED)

    def add_stage(self, kind, inputs, status):
        """The steps of one stage, from (asset id, prompt) pairs: as many per pair as
        the stage makes outputs, each with a seed of its own. Queued ones are sent
        by the dispatcher, woken once on commit."""
        stage = self.config["i2i" if kind == Step.Kind.I2I else "i2v"]
        per_input = stage.get("images_per_prompt" if kind == Step.Kind.I2I else "videos_per_image") or 1
        start = self.steps.count()
        provider, now = provider_of(stage["model"]), timezone.now()
        estimate = bill(stage["model"], stage).total
        steps = [
            Step(
                owner_id=self.owner_id, pipeline=self, kind=kind, order=start + n, variant=variant, status=status,
                provider=provider, config={**stage, "prompt": prompt, "seed": (stage.get("seed", 0) + variant) % (SEED_MAX + 1)},
                inputs={"asset_id": asset_id}, cost_estimate=estimate, available_at=now,
            )  # fmt: skip
            for n, (asset_id, prompt, variant) in enumerate(
                (asset_id, prompt, variant) for asset_id, prompt in inputs for variant in range(per_input)
            )
        ]
        Step.objects.bulk_create(steps, batch_size=1000)
        bump_on_commit("jobs", self.owner_id)
        if status == Step.Status.QUEUED:
            Step.objects.wake_dispatcher()
        return steps

    # --- Moving on ----------------------------------------------------------------------------

    def advance(self):
        """Called whenever a step finishes: start the next stage when the first is
        done, then derive status, cost and progress from the steps.

        The pipeline row is locked, so two steps finishing at once can't both
        create the video stage.
        """
        with transaction.atomic():
            pipeline = Pipeline.objects.select_for_update().filter(pk=self.pk).first()
            if pipeline is None:
                return None  # deleted while its last step ran
            pipeline._start_first_stage_if_enhanced()
            pipeline._start_i2v_stage_if_due()
            pipeline.refresh_progress()
        return pipeline

    def _start_i2v_stage_if_due(self):
        if not (self.config.get("i2i") and self.config.get("i2v")):
            return
        if self.steps.filter(kind=Step.Kind.I2V).exists():
            return  # already started
        if self.steps.filter(kind=Step.Kind.I2I).exclude(status=Step.Status.COMPLETED).exists():
            return  # failed image steps wait for a retry: their images would be missing from the videos
        images = self.outputs.filter(step__kind=Step.Kind.I2I, asset__kind="image").select_related("step")
        inputs = [(o.asset_id, o.step.prompt) for o in images.order_by("position", "id")]
        paused = self.mode == Pipeline.Mode.CHECKPOINT
        self.add_stage(Step.Kind.I2V, inputs, Step.Status.REVIEW if paused else Step.Status.QUEUED)

    def refresh_progress(self):
        if self.expanding:
            return  # no steps yet to derive anything from: it stays running, "making N steps"
        counts = dict(self.steps.order_by().values_list("status").annotate(n=Count("id")))
        active = sum(counts.get(s, 0) for s in Step.ACTIVE)
        if active:
            status = Pipeline.Status.RUNNING
        elif counts.get(Step.Status.REVIEW):
            status = Pipeline.Status.PAUSED
        elif counts.get(Step.Status.FAILED) or counts.get(Step.Status.UNKNOWN):
            status = Pipeline.Status.FAILED
        elif counts.get(Step.Status.CANCELLED):
            status = Pipeline.Status.CANCELLED
        elif counts.get(Step.Status.PENDING):
            status = Pipeline.Status.PENDING
        else:
            status = Pipeline.Status.COMPLETED
        ended = status != self.status and status in (Pipeline.Status.COMPLETED, Pipeline.Status.FAILED)
        self.status = status
        self.total_cost = self.steps.aggregate(c=Coalesce(Sum("cost_actual"), Decimal("0")))["c"]
        self.progress_done = counts.get(Step.Status.COMPLETED, 0)
        self.planned_steps = max(sum(counts.values()), self.planned_steps if self._stage_missing() else 0)
        self.activity = self.describe_activity(counts) if active or counts.get(Step.Status.UNKNOWN) else ""
        self.save(update_fields=["status", "total_cost", "progress_done", "planned_steps", "activity", "updated_at"])
        if ended:
            pipeline_ended.send(Pipeline, pipeline=self)

    def describe_activity(self, counts=None):
        """A few words on what the steps are doing: at the provider, in its queue, failed, unknown."""
        counts = counts if counts is not None else dict(self.steps.order_by().values_list("status").annotate(n=Count("id")))
        parts = []
        waiting = self.steps.filter(status=Step.Status.WAITING)
        if counts.get(Step.Status.WAITING):
            ahead = waiting.filter(queue_position__isnull=False).order_by("queue_position").values_list("queue_position", flat=True).first()
            busy = waiting.filter(progress__gt=0).aggregate(p=models.Max("progress"))["p"]
            note = f"{counts[Step.Status.WAITING]} at the provider"
            if ahead is not None:
                note += f", next in its queue at #{ahead + 1}"
            elif busy:
                note += f", {busy}% done"
            parts.append(note)
        if counts.get(Step.Status.RUNNING):
            parts.append(f"{counts[Step.Status.RUNNING]} running")
        if counts.get(Step.Status.QUEUED):
            parts.append(f"{counts[Step.Status.QUEUED]} queued")
        if counts.get(Step.Status.FAILED):
            parts.append(f"{counts[Step.Status.FAILED]} failed")
        if counts.get(Step.Status.UNKNOWN):
            parts.append(f"{counts[Step.Status.UNKNOWN]} outcome unknown")
        return " · ".join(parts)[:120]

    def _stage_missing(self):
        # While a stage doesn't exist yet (the first one waits for enhanced prompts, the i2v one for images),
        # the plan still counts its steps.
        if self.config.get("enhance") and not self.steps.exclude(kind=Step.Kind.PROMPT_ENHANCE).exists():
            return True
        return bool(self.config.get("i2i") and self.config.get("i2v")) and not self.steps.filter(kind=Step.Kind.I2V).exists()

    def cancel(self):
        """Stop everything: waiting steps are cancelled, running ones see it at their
        next checkpoint, and requests at a provider are cancelled there by the poller."""
        stoppable = (*Step.ACTIVE, Step.Status.PENDING, Step.Status.REVIEW, Step.Status.UNKNOWN)
        with transaction.atomic():
            if Pipeline.objects.filter(pk=self.pk, expanding=True).update(
                expanding=False, status=Pipeline.Status.CANCELLED, activity="", updated_at=timezone.now()
            ):
                self.expanding, self.status, self.activity = False, Pipeline.Status.CANCELLED, ""
                bump_on_commit("jobs", self.owner_id)
                return  # cancelled before its steps were made: there are none to stop
            self._lock()
            self.steps.filter(status__in=stoppable).update(
                status=Step.Status.CANCELLED, finished_at=timezone.now(), leased_until=None, queue_position=None
            )
            self.refresh_progress()

    def _lock(self):
        # The same lock advance() and a finishing step take: an action and they never interleave.
        Pipeline.objects.lock(self.pk)

    @property
    def retryable_steps(self):
        """Steps a person may run again: failed ones, and those whose outcome is unknown."""
        return self.steps.filter(status__in=(Step.Status.FAILED, Step.Status.UNKNOWN))

    def retry_cost(self):
        """What retrying costs at most: each retried step may be billed once more, and the stages they lead to are
        made and run without asking again (_again_cost())."""
        return self._again_cost(self.retryable_steps, self.retryable_steps)

    def retry_failed(self):
        """Failed and unknown steps are queued again (a person asked: each may be paid for once more); the number
        queued again."""
        with self._changing_steps():
            return self._queue_again(self.retryable_steps)

    @contextmanager
    def _changing_steps(self):
        """An action on the steps (retry, resume, approve): under the pipeline's lock; after it, the pipeline's
        state derived from them again and the dispatcher woken (on commit) to send what was queued."""
        with transaction.atomic():
            self._lock()
            yield
            self.refresh_progress()
            Step.objects.wake_dispatcher()

    @staticmethod
    def _queue_again(steps, phase="submit", **fields):
        """Queue `steps` again, due now with no message in flight (the dispatcher sends them): the one way a
        person's Retry or Resume runs a step again. In phase `submit` each is sent to its provider afresh,
        and may be billed once more; in `fetch`, a result already paid for is fetched. Each gets a fresh set of
        attempts: a worker still holding an earlier run of it is fenced off by its run number, which no retry
        counts back (WorkItem.mine()), so it sends, stores and finishes nothing. The number queued."""
        fresh = {
            "status": Step.Status.QUEUED, "phase": phase, "error": "", "progress": 0, "queue_position": None, "progress_note": "",
            "finished_at": None, "leased_until": None, "available_at": timezone.now(), "sent_at": None, "attempts": 0,
        }  # fmt: skip
        return steps.update(**{**fresh, **fields})

    # --- Resume: what a cancel stopped, run on -------------------------------------------------

    NOTHING_TO_RESUME = "Nothing to resume: no step of this pipeline was stopped by a cancel before it finished."
    STILL_STOPPING = (
        "Some of its cancelled steps are still being stopped at their provider (or looked for there): "
        "resume it in a few seconds, once they are."
    )

    @property
    def resumable_steps(self):
        """Steps a cancel stopped. None of them made its output: a step stores its outputs in the transaction
        that completes it, and only while it is still its run's (Step.finish()); a cancelled step is not."""
        return self.steps.filter(status=Step.Status.CANCELLED)

    def _resume_plan(self):
        """What resuming does with each cancelled step, as querysets: (submit, fetch, review).
        - fetch: its provider finished it and billed it before the cancel, and its file wasn't stored: the result
          is fetched, not paid for again (not a synchronous provider's: its files came with the answer, dropped
          with the cancelled step, and there is nothing to fetch: sent again, at its cost);
        - review: a checkpoint pipeline's video stage that none of whose steps ever started goes back under review,
          to be approved as before (one approved and cancelled before any of it started asks again: nothing lost);
        - submit: every other, sent to its provider afresh (the cost a person confirms).
        Steps whose request is still in flight (being stopped at the provider, or looked for) are in none."""
        from .remote import RemoteRequest

        requests = RemoteRequest.objects.filter(step=OuterRef("pk"))
        steps = self.resumable_steps.exclude(_request_in_flight())
        completed = requests.filter(state=RemoteRequest.State.COMPLETED).exclude(provider__in=synchronous_providers())
        fetch = steps.filter(Exists(completed))
        rest = steps.exclude(pk__in=fetch.values("pk"))
        if self._review_held():
            return rest.exclude(kind=Step.Kind.I2V), fetch, rest.filter(kind=Step.Kind.I2V)
        return rest, fetch, rest.none()

    def _review_held(self):
        """Whether this checkpoint pipeline's video stage was cancelled before any of its steps started."""
        if self.mode != Pipeline.Mode.CHECKPOINT or not (self.config.get("i2i") and self.config.get("i2v")):
            return False
        videos = self.steps.filter(kind=Step.Kind.I2V)
        return not videos.filter(Q(started_at__isnull=False) | ~Q(status=Step.Status.CANCELLED)).exists()

    def resume_cost(self):
        """What resuming costs at most: each step sent to its provider again may be billed once more, and the
        stages the resumed steps lead to are made and run without asking again (_again_cost())."""
        submit, fetch, _ = self._resume_plan()
        return self._again_cost(submit, submit | fetch)

    def _again_cost(self, paid, again):
        """What running `again` (the steps a Retry or a Resume queues) costs at most, as the providers bill it:
        `paid`, those of them sent to their provider afresh, each once more, and the stages still to be made once
        they complete (_unmade_cost()). One query."""
        # A step of an earlier stage neither complete nor run again never completes: what waits for it is never made.
        stuck = ~Q(status=Step.Status.COMPLETED) & ~Q(pk__in=again.values("pk")) & ~Q(kind=Step.Kind.I2V)
        steps = self.steps.aggregate(
            paid=Coalesce(Sum("cost_estimate", filter=Q(pk__in=paid.values("pk"))), Decimal("0")),
            made=Count("pk", filter=~Q(kind=Step.Kind.PROMPT_ENHANCE)), images=Count("pk", filter=Q(kind=Step.Kind.I2I)),
            videos=Count("pk", filter=Q(kind=Step.Kind.I2V)), stuck=Count("pk", filter=stuck),
        )  # fmt: skip
        return steps["paid"] + self._unmade_cost(steps)

    def _unmade_cost(self, steps):
        """What the stages still to be made cost, as planned, once the steps queued again complete (`steps`: the
        counts _again_cost() made): all of them while the prompts wait to be enhanced, the video stage while the
        images it starts from aren't all made. None while a step they wait for is stuck (advance() makes a stage
        only once the one before is complete), and not one a checkpoint holds for review (approving asks again)."""
        config = self.config
        if not (config.get("sources") and config.get("prompts")) or steps["stuck"]:
            return Decimal("0")  # no plan recorded (imported and older pipelines), or it waits for ever
        held = self.mode == Pipeline.Mode.CHECKPOINT and config.get("i2i")
        if config.get("enhance") and not steps["made"]:
            return Pipeline.estimate({**config, "i2v": None} if held else config)
        if held or not (config.get("i2i") and config.get("i2v")) or steps["videos"]:
            return Decimal("0")
        videos = steps["images"] * config["i2v"]["videos_per_image"]
        return videos * bill(config["i2v"]["model"], config["i2v"]).total

    def resume_conflict(self):
        """Why there is nothing to resume now ("" when there is): the pipeline isn't cancelled, no step is left
        that a cancel stopped, or some are still being stopped at the provider: resumed then, the others would run
        on and the pipeline end cancelled again with those left behind (a Resume sent the second after a Cancel,
        found by a make-run session). The page's and the API's 409."""
        if self.status != Pipeline.Status.CANCELLED:
            return f"“{self.name}” is {self.get_status_display().lower()}: only a cancelled pipeline can be resumed."
        if not self.resumable_steps.exists():
            return Pipeline.NOTHING_TO_RESUME
        if self.resumable_steps.filter(_request_in_flight()).exists():
            return Pipeline.STILL_STOPPING
        return ""

    def resume_refusal(self):
        """Why resuming can only fail ("" when nothing says so): the retry's reasons, for the cancelled steps."""
        return self.unrunnable() or self.resume_sources_gone()

    def resume_sources_gone(self):
        return self.sources_gone_for(self.resumable_steps, "cancelled", "resuming them would fail")

    def resume(self):
        """Run on what a cancel stopped (a person asked, with resume_cost() confirmed): _resume_plan()'s steps
        queued or put back under review, the completed ones and their outputs left as they are (a worker still
        holding a step from before the cancel is fenced off as after a retry: _queue_again()). The number resumed."""
        with self._changing_steps():
            submit, fetch, review = self._resume_plan()
            # The querysets read the steps' state: each update goes before the steps it moved are read again.
            reviewed = review.update(status=Step.Status.REVIEW, finished_at=None, leased_until=None, sent_at=None)
            fetched = self._queue_again(fetch, Step.Phase.FETCH, progress=100, progress_note="Fetching the result")
            return reviewed + fetched + self._queue_again(submit)

    def approve(self):
        """Checkpoint mode: run the stage waiting for review."""
        with self._changing_steps():
            return self.steps.filter(status=Step.Status.REVIEW).update(
                status=Step.Status.QUEUED, available_at=timezone.now(), sent_at=None
            )

    @property
    def can_cancel(self):
        return self.status in (Pipeline.Status.PENDING, Pipeline.Status.RUNNING, Pipeline.Status.PAUSED)

    def cancel_refusal(self):
        """Why there is nothing to cancel ("" when there is): the page's and the API's words."""
        return "" if self.can_cancel else f"“{self.name}” is {self.get_status_display().lower()}: there is nothing to cancel."

    NOTHING_TO_RETRY = "Nothing to retry: no step of this pipeline failed or was left unknown."

    @property
    def can_rerun(self):
        # Pipelines made before the New pipeline page (imports, seed data) have no config to copy.
        return bool(self.config.get("prompts") and self.config.get("sources"))

    def unrunnable(self):
        """Why this pipeline's steps could only fail on this server ("" when nothing says so): the model of a
        stage or of a step to retry (or resume) whose provider has no key here, or that left the catalog (imported
        and older pipelines record no stages, only their steps). A rerun, a retry or a resume is refused with it."""
        models = {stage["model"] for stage in (self.config.get("i2i"), self.config.get("i2v")) if stage}
        if self.status == Pipeline.Status.FAILED or not models:  # steps to retry, or no stages recorded: their models
            again = self.resumable_steps if self.status == Pipeline.Status.CANCELLED else self.retryable_steps
            models |= set(again.values_list("config__model", flat=True))
        for model in sorted(m for m in models if m):  # a prompt-enhance step has none
            try:
                provider = get_provider(model)
            except ProviderError as exc:
                return str(exc)
            if provider.missing_setting:
                return provider.no_key
        return ""

    def rerun_refusal(self):
        """Why this pipeline can't be rerun ("" when it can): no recorded settings, a stage's provider without
        its key here, or sources deleted from the library since. Asked before the rerun's confirmation and again
        when it is sent."""
        if not self.can_rerun:
            return "This pipeline has no recorded settings to rerun."
        return self.unrunnable() or self.sources_gone()

    def retry_refusal(self):
        """Why retrying can only fail again ("" when nothing says so): a model without its key here, or every
        step to retry starting from an image deleted from the library since (each would fail at once, and the
        pipeline with it, telling its webhooks once more)."""
        return self.unrunnable() or self.retry_sources_gone()

    def retry_sources_gone(self):
        """Why the steps to retry can't find their sources ("" when one of them may)."""
        return self.sources_gone_for(self.retryable_steps, "failed", "a retry would fail again")

    def sources_gone_for(self, steps, which, outcome):
        """Why `steps` (the `which` ones) can't find their sources ("" when one of them may): every one starts
        from an image deleted from the library since (a source of the pipeline, or an image its first stage made)."""
        sources = set(steps.order_by().values_list("inputs__asset_id", flat=True).distinct())
        # A step that starts from no image (or that names none it could read) isn't refused here.
        if not sources or not all(isinstance(s, int) for s in sources):
            return ""
        if Asset.objects.filter(owner_id=self.owner_id, pk__in=sources).exists():
            return ""
        return (f"The images its {which} steps start from were deleted from your library, so {outcome}: "
                "start a New pipeline from other images instead.")  # fmt: skip

    def sources_gone(self):
        """Why a rerun can't find its sources ("" when it can): some were deleted from the library since."""
        sources = self.config.get("sources") or []
        gone = len(set(sources) - set(Asset.objects.filter(owner_id=self.owner_id, pk__in=sources).values_list("pk", flat=True)))
        if not gone:
            return ""
        return (f"{gone} of its {len(sources)} sources {'was' if gone == 1 else 'were'} deleted from your "
                "library: start a New pipeline from other images instead.")  # fmt: skip

    def rerun_request(self):
        """The cleaned request a rerun creates the new pipeline from."""
        return {
            **self.config, "name": self.name, "description": self.description, "mode": self.mode,
            "tags": list(self.tags.values_list("name", flat=True)),
        }  # fmt: skip

    def rerun(self):
        """A new pipeline with the same sources, prompts and settings."""
        return Pipeline.objects.create_from_request(self.owner, self.rerun_request())

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
    # The pipeline's created_at, copied by triggers (jobs migration 0027) for every writer, so that
    # a tag's pipelines are read by date from the links alone (jobs/listing.py _tag_links()).
    created_at = models.DateTimeField(null=True, editable=False)
    # Its total_cost too (and on PostgreSQL its text signature, in columns of their own), copied by
    # triggers (jobs migration 0035), so that a tag's pipelines with a text are read by cost from
    # the links' index (pipetag_tag_cost), the signature tested on its entries.
    total_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pipeline", "tag"], name="pipetag_uniq")]
        indexes = [
            # Tag filter: pipelines of one tag, joined from the tag side: tag_id=? AND pipeline_id=?
            models.Index(fields=["tag", "pipeline"], name="pipetag_tag_pipeline"),
            # A tag's pipelines by date, walked with a text: tag_id=? ORDER BY created_at DESC, pipeline_id DESC (or both ASC)
            models.Index(fields=["tag", "-created_at", "-pipeline"], name="pipetag_tag_created"),
        ]


class StepQuerySet(WorkQueueQuerySet):
    def for_run(self):
        return self.select_related("pipeline")

    def active(self):
        return self.filter(status__in=Step.ACTIVE)

    def wake_dispatcher(self):
        """Send one dispatch message on commit: the dispatcher sends the steps."""
        from .tasks import dispatch_steps

        def send():
            try:
                from i2v.lib.broker import producer

                with producer() as pooled:
                    dispatch_steps.apply_async(producer=pooled, retry=False)
            except Exception:  # noqa: BLE001 - the sweeper dispatches within WORK_SWEEP_SECONDS anyway
                logger.warning("could not wake the dispatcher; the sweeper will send the steps", exc_info=True)

        transaction.on_commit(send)

    def dispatch(self, now=None, limit=None):
        """Send due steps, as many as their providers have places for: a step being
        submitted or about to be takes a place, so the workers never hold more
        messages than the providers take. Fetches need no place."""
        from .providers import get_provider
        from .remote import RemoteRequest

        Pipeline.objects.expand_due()  # steps not made yet are made first (and are due at once)
        now = now or timezone.now()
        base = WorkQueueQuerySet.dispatch
        sent = base(self.filter(phase=Step.Phase.FETCH), now, limit)
        # Prompt enhancement calls a chat model, not a generation provider: no places to count.
        sent += base(self.filter(kind=Step.Kind.PROMPT_ENHANCE), now, limit)
        due = self.filter(status=Step.Status.QUEUED, phase=Step.Phase.SUBMIT, sent_at__isnull=True, available_at__lte=now)
        due = due.exclude(kind=Step.Kind.PROMPT_ENHANCE)
        for name, model in dict(due.order_by().values_list("provider", "config__model").distinct()[:50]).items():
            try:
                provider = get_provider(model)
            except ProviderError:
                provider = None
            if provider is None:
                sent += base(self.filter(phase=Step.Phase.SUBMIT, provider=name), now, limit)  # fails readably when run
                continue
            taking = Step.objects.filter(provider=name, phase=Step.Phase.SUBMIT).filter(
                Q(status=Step.Status.RUNNING) | Q(status=Step.Status.QUEUED, sent_at__isnull=False)
            )
            free = RemoteRequest.objects.free_places(name, provider.account, provider.limit) - taking.count()
            if free > 0:
                sent += base(self.filter(phase=Step.Phase.SUBMIT, provider=name), now, min(free, limit or free))
        return sent

    def check_quota(self, owner, adding):
        """Refuse (QuotaExceeded, a 429 like every rate limit) adding `adding` steps when `owner`
        would have more than GENERATION_MAX_STEPS_IN_FLIGHT queued or running."""
        limit = settings.GENERATION_MAX_STEPS_IN_FLIGHT
        flying = self.filter(owner=owner, status__in=Step.ACTIVE).count() + Pipeline.objects.planned_unmade(owner)
        if flying + adding > limit:
            message = (
                f"You have {flying:,} steps queued or running, and this would add {adding:,}: at most {limit:,} may "
                "be in flight at once. Wait for some to finish, or cancel some."
            )
            raise QuotaExceeded("steps_in_flight", QUOTA_RETRY_AFTER, message, code="too_many_steps")


def _request_in_flight():
    """A step's condition: a request of it is still in flight (being stopped at its provider, or looked for)."""
    from .remote import RemoteRequest

    return Exists(RemoteRequest.objects.filter(step=OuterRef("pk")).in_flight())


class Step(WorkItem):
    """One planned output: a source and a prompt at one stage, with a seed of its
    own. A worker submits it to its provider (phase submit), it waits there
    (remote) while the poller asks after it, and a worker fetches its file into
    the library (fetch); the shared work-queue mechanism (i2v/lib/workqueue.py)
    leases, retries and sweeps it."""

    class Kind(models.TextChoices):
        PROMPT_ENHANCE = "prompt_enhance", "prompt enhance"
        I2I = "i2i", "image"
        I2V = "i2v", "video"

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"  # a worker holds it (submitting, or fetching its file)
        WAITING = "waiting"  # at the provider
        REVIEW = "review"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        UNKNOWN = "unknown"  # the provider may have run it: a person decides

    class Phase(models.TextChoices):
        SUBMIT = "submit"
        REMOTE = "remote"
        FETCH = "fetch"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)
    work = WorkSpec(task=RUN_STEP, queues=(settings.GENERATION_QUEUE,), backoff_setting="GENERATION_BACKOFF_SECONDS")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # No index of its own: (pipeline, order, id) below serves every lookup by pipeline. Beside it, a
    # single-column index looked as cheap to the planner (it expects ~2 steps a pipeline), so a
    # 2,000-step pipeline's first page read and sorted all 2,000 rows instead of 21 (migration 0009).
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="steps", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    order = models.PositiveIntegerField(default=0)
    variant = models.PositiveSmallIntegerField(default=0, db_default=0)  # nth output of its source and prompt
    config = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.SUBMIT, db_default=Phase.SUBMIT)
    provider = models.CharField(max_length=16, blank=True, default="", db_default="")
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    queue_position = models.IntegerField(null=True, blank=True)
    progress_note = models.CharField(max_length=200, blank=True, default="", db_default="")
    cost_estimate = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    cost_actual = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    cost_reported = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    queue = models.CharField(max_length=16, default=settings.GENERATION_QUEUE, db_default=settings.GENERATION_QUEUE)
    # Fresh steps at 3: a step that runs again (its worker died) is sent ahead of them (RERUN_BOOST).
    priority = models.PositiveSmallIntegerField(default=3, db_default=3)

    objects = StepQuerySet.as_manager()

    class Meta:
        indexes = [
            # Expanded row and step counts: pipeline_id=? ORDER BY order, id; the kind and status
            # counted by jobs/detail.py step_summary() from the index alone (migration 0017)
            models.Index(fields=["pipeline", "order", "id"], include=["kind", "status"], name="step_pipeline_order"),
            # Per-user quota of steps in flight: owner=? AND status IN ('queued','running','waiting')
            models.Index(
                fields=["owner", "status"], name="step_owner_active",
                condition=models.Q(status__in=["queued", "running", "waiting"]),
            ),
            # Dispatcher, due steps with no message in flight, per provider:
            # status='queued' AND sent_at IS NULL AND provider=? AND available_at <= ? ORDER BY priority, available_at
            models.Index(
                fields=["provider", "priority", "available_at"], condition=Q(status="queued", sent_at__isnull=True),
                name="step_unsent_due",
            ),
            # Sweeper, messages in flight, oldest first: status='queued' AND sent_at < ? ORDER BY sent_at
            models.Index(
                fields=["queue", "sent_at"], condition=Q(status="queued", sent_at__isnull=False), name="step_in_flight"
            ),
            # Sweeper, leases that ran out: status='running' AND leased_until < ? ORDER BY leased_until
            models.Index(fields=["leased_until"], condition=Q(status="running"), name="step_leases"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.order}"

    def as_json(self):
        return {
            "id": self.id,
            "kind": self.kind,
            "order": self.order,
            "variant": self.variant,
            "status": self.status,
            "phase": self.phase,
            "progress": self.progress,
            "queue_position": self.queue_position,
            "note": self.progress_note,
            "model": self.model_name,
            "prompt": self.prompt,
            "config": self.config,
            "cost_estimate": str(self.cost_estimate),
            "cost_actual": str(self.cost_actual),
            "cost_reported": None if self.cost_reported is None else str(self.cost_reported),
            "error": self.error,
            "attempts": self.attempts,
            "started_at": instant(self.started_at),
            "finished_at": instant(self.finished_at),
        }

    @property
    def model_name(self):
        return self.config.get("model", "")

    @property
    def model_label(self):
        return settings.GENERATION_MODELS.get(self.model_name, {}).get("label", self.model_name)

    @property
    def prompt(self):
        return self.config.get("prompt", "")

    # --- The work queue's hooks ----------------------------------------------------------

    def on_requeued(self, message):
        self.pipeline.advance()

    def on_failed(self, message):
        self.pipeline.advance()

    def describe_error(self, exc):
        if isinstance(exc, ProviderError):
            return exc.message
        if isinstance(exc, SoftTimeLimitExceeded):
            return "The step ran out of time."
        return "An internal error stopped this step; it was logged for the operators."

    def done_fields(self, now):
        return {"finished_at": now}

    def failed_fields(self, now):
        return {"finished_at": now}

    def lease_ran_out(self, message, now):
        """A worker died holding this step. If it died sending the request, the request
        may be running: it is taken up (take_up_sent()), never sent again by itself."""
        return self.take_up_sent() or super().lease_ran_out(message, now)

    def save_enhanced(self, done, total):
        """Keep the prompts rewritten so far: a retry carries on from here, never asking twice."""
        self.config = {**self.config, "enhanced": done}
        note = f"Enhanced {len(done)} of {total} prompts"
        if not self.mine().update(config=self.config, progress=100 * len(done) // max(total, 1), progress_note=note):
            raise Superseded(f"{self} was cancelled or taken over")

    def finish_enhancement(self, prompts):
        """All prompts rewritten: done, and the pipeline makes its first stage from them."""
        with transaction.atomic():
            if not self.complete(config={**self.config, "enhanced": prompts}, progress=100, progress_note=""):
                return False
        self.pipeline.advance()
        return True

    def beat(self, note=None):
        """on_progress for synchronous providers: stops the run (Superseded) as soon as
        the step is cancelled or taken over, so a cancel never pays for more."""
        if not self.mine().exists():
            raise Superseded(f"{self} was cancelled or taken over")
        self.checkpoint()

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

    # --- What its requests make of it (remote.py calls these; its callers then advance the pipeline) ---

    def take_up_sent(self):
        """What an earlier run of this step left with its provider, taken up where it stopped instead of
        being sent again: by the sweeper once a worker died holding the step, and by every submitting run
        before it sends (a run may have been handed back after its provider took the request). One left
        `sending` (sent, its answer never recorded) has an unknown outcome, as submission_lost() says what
        that means; one the provider took and whose answer was recorded waits there. "" when nothing was
        left, so the step may be sent; else what became of it."""
        from .remote import RemoteRequest

        if self.phase != Step.Phase.SUBMIT:
            return ""
        # A person's Retry or Resume normally finds none in flight: a Retry's steps ended, their requests settled,
        # and Resume skips a step whose request is still in flight. One a run left (it failed for good writing
        # a refusal, say) is taken up all the same: only a settled request may be followed by another.
        left = self.requests.in_flight().order_by("-attempt").first()
        if left is None:
            return ""
        if left.state in RemoteRequest.POLLED:
            self.handed_off(left)
            self.pipeline.advance()
            return "submitted"
        if left.state == RemoteRequest.State.SENDING and left.refused_if_free():
            return ""
        error = left.error or "Sent, but its answer was never recorded (its worker stopped, or the database failed)."
        self.submission_lost(left, error)
        return "outcome unknown"

    def handed_off(self, request):
        """The provider took the request: the step waits there, no worker holds it."""
        done = self.mine().update(
            status=Step.Status.WAITING, phase=Step.Phase.REMOTE, leased_until=None, queue_position=request.queue_position,
            progress_note=f"Sent to {request.provider}", error="",
        )  # fmt: skip
        return bool(done)

    def submission_lost(self, request, error):
        """The submission got no answer. With a way to find it (a lookup, a webhook)
        the step waits for that; without one its owner is asked, at once."""
        can_find = request.findable
        status = Step.Status.WAITING if can_find else Step.Status.UNKNOWN
        note = "Outcome unknown; looking for it at the provider" if can_find else ""
        # Both or neither: a request marked lost under a step handed back would let its next run send it again.
        with transaction.atomic():
            request.lost(error, can_find)
            self.mine().update(
                status=status, phase=Step.Phase.REMOTE, leased_until=None, progress_note=note,
                error=f"Outcome unknown: {error}"[:500], finished_at=None if can_find else timezone.now(),
            )  # fmt: skip
        if not can_find:
            self.pipeline.advance()

    def show_progress(self, request):
        note = f"In {request.provider}'s queue" if request.queue_position is not None else f"Running at {request.provider}"
        if request.progress:
            note += f", {request.progress}%"
        if request.logs:
            note += f": {request.logs.splitlines()[-1]}"
        Step.objects.filter(pk=self.pk, status__in=(Step.Status.WAITING, Step.Status.UNKNOWN)).update(
            status=Step.Status.WAITING, queue_position=request.queue_position, progress=request.progress or 0,
            progress_note=note[:200],
        )  # fmt: skip

    def record_cost(self):
        """The step's cost: what its requests were billed, and what the providers reported."""
        from .remote import RemoteRequest

        mine = RemoteRequest.objects.filter(step=self.pk).order_by().values("step")
        Step.objects.filter(pk=self.pk).update(
            cost_actual=Coalesce(Subquery(mine.annotate(s=Sum("cost")).values("s")), Decimal("0")),
            cost_reported=Subquery(mine.annotate(s=Sum("reported_cost")).values("s")),
        )

    def fetch_result(self, request):
        """The provider finished: a worker fetches the file (the cost is already recorded).
        A result that arrives for a step whose outcome was unknown is fetched too: it was paid for."""
        moved = Step.objects.filter(pk=self.pk, status__in=(Step.Status.WAITING, Step.Status.UNKNOWN)).update(
            status=Step.Status.QUEUED, phase=Step.Phase.FETCH, attempts=0, available_at=timezone.now(),
            sent_at=timezone.now(), queue_position=None, progress=100, progress_note="Fetching the result",
            finished_at=None, error="",
        )  # fmt: skip
        if moved:
            Step.objects.send_on_commit([Ref(self.pk, self.queue, self.priority)])

    def provider_failed(self, request):
        """The provider failed or cancelled the request: the step fails with its
        message. It was submitted once; only a person submits it again."""
        Step.objects.filter(pk=self.pk, status__in=(Step.Status.WAITING, Step.Status.UNKNOWN)).update(
            status=Step.Status.FAILED, error=request.error[:500], finished_at=timezone.now(), queue_position=None,
            progress_note="",
        )  # fmt: skip

    def outcome_unknown(self, request):
        """Nobody could find the request: its owner decides whether to run it again. A step cancelled meanwhile
        stays cancelled, and says what a Resume of it may pay."""
        again = f"may cost {request.cost or self.cost_estimate} again"
        Step.objects.filter(pk=self.pk, status=Step.Status.WAITING).update(
            status=Step.Status.UNKNOWN, finished_at=timezone.now(), progress_note="",
            error=f"Outcome unknown: {request.provider} may have run it; retrying {again}.",
        )  # fmt: skip
        Step.objects.filter(pk=self.pk, status=Step.Status.CANCELLED).update(
            error=f"Outcome unknown: {request.provider} may have run it; resuming {again}."
        )

    def parameters_text(self, file):
        """How `file` was made, in the A1111 text that goes inside it (library/parameters.py)."""
        config = self.config if isinstance(self.config, dict) else {}
        size = f"{file.width}x{file.height}" if file.width and file.height else None
        settings = {
            "Steps": config.get("steps"), "CFG scale": config.get("guidance_scale"), "Seed": config.get("seed"),
            "Size": size, "Model": self.model_name, "Aspect ratio": config.get("aspect_ratio"),
            "Quality": config.get("quality"), "Generator": "i2v",
        }  # fmt: skip
        return format_text(self.prompt, settings, config.get("negative_prompt") or "")

    def finish(self, files, request):
        """Store the files as assets with outputs, record the request as stored and mark
        the step completed, all or nothing; False if the step stopped being ours."""
        with transaction.atomic():
            Pipeline.objects.lock(self.pipeline_id)  # before the step's row: see lock()
            if not self.complete(progress=100, queue_position=None, progress_note=""):
                return False
            for file in files:
                asset = Asset.objects.store_generated(self.owner_id, file, self.prompt, self.parameters_text(file))
                Output.objects.create(
                    owner_id=self.owner_id, step=self, pipeline_id=self.pipeline_id, asset=asset, position=self.order
                )
            request.stored()
            self.record_cost()
        return True


class OutputQuerySet(models.QuerySet):
    def making(self, owner, asset_ids):
        """The outputs that made `owner`'s generated Library items among `asset_ids`: such an item is named and
        described as the newest of them, in a download as in the viewer (viewer/details.py)."""
        return self.filter(owner_id=owner.id, asset_id__in=asset_ids, asset__source="generated")

    def newest_of_each_asset(self):
        """The id of the newest of these outputs for each asset (identical outputs share one)."""
        return self.values("asset_id").annotate(newest=Max("id")).values("newest")


class Output(models.Model):
    ORDERING = Ordering("position", (("position", False), ("id", False)))
    # What a grid tile needs; the asset's exif and other heavy fields stay in the database.
    GRID_FIELDS = ("id", "position", "pipeline_id", "step_id", "asset_id")
    ASSET_GRID_FIELDS = (
        "id", "kind", "renditions", "original", "width", "height", "mime", "duration", "prompt", "is_favorite", "is_hidden",
    )  # fmt: skip

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="outputs")
    # Denormalised from step so counting and listing a pipeline's outputs is one index range.
    # Served by (pipeline, position, id) below; no index of its own, for the reason Step.pipeline gives.
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="outputs", db_index=False)
    asset = models.ForeignKey("library.Asset", on_delete=models.PROTECT, related_name="outputs")
    position = models.PositiveIntegerField(default=0)

    objects = OutputQuerySet.as_manager()

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
            # The file under its descriptive name, and what a viewer shows beside it (docs/api.md).
            "download_url": reverse("downloads:output", args=[self.id]) if asset.original else None,
            "details_url": reverse("library:api_details", args=[asset.id]),
        }


def _output_tiles(outputs):
    return outputs.only(*Output.GRID_FIELDS)


def _asset_tiles(assets):
    return assets.only(*Output.ASSET_GRID_FIELDS)


# Registered with the app (remote.py keeps the life of each paid request).
from .remote import RemoteRequest  # noqa: E402, F401
