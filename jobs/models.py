import datetime
import json
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from i2v.lib.cache import bump_on_commit
from i2v.lib.pagination import Ordering, paginate, pagination_json
from library.models import rendition

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
        if q:
            # search_text is stored lowercased, so a plain LIKE works and can use
            # the trigram index on PostgreSQL.
            qs = qs.filter(search_text__contains=q.lower())
        # Compare the column with instants, not DATE(created_at), so the
        # created_at index still serves the range.
        if date_from:
            qs = qs.filter(created_at__gte=_start_of(date_from))
        if date_to:
            qs = qs.filter(created_at__lt=_start_of(date_to + datetime.timedelta(days=1)))
        return qs

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
            self.delete()
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

    def count_for_list(self, exact_up_to=1000):
        """(total, is_estimate) for a filtered list, without a full COUNT(*).

        On PostgreSQL the planner's row estimate (an EXPLAIN, well under a
        millisecond) answers for big lists, where "about 950,000" is all a page
        needs. Small lists get an exact count, capped so that a wrong estimate
        can never turn it into a scan of the whole table.
        """
        estimate = self._planner_rows() if connection.vendor == "postgresql" else None
        if estimate is not None and estimate > exact_up_to:
            return estimate, True
        capped = self.order_by().values("pk")[: exact_up_to + 1].count()
        if capped <= exact_up_to:
            return capped, False
        if estimate is None:
            return self.count(), False  # SQLite: the embedded default holds small data
        return max(estimate, capped), True

    def _planner_rows(self):
        plan = self.order_by().values("pk").explain(format="json")
        return int(json.loads(plan)[0]["Plan"]["Plan Rows"])


def _instant(moment):
    # Second precision in UTC ("2026-03-10T08:15:00Z"): all a script needs, and short.
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_of(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


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
        "is_favorite", "is_hidden", "total_cost", "created_at",
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
            "steps": [s.as_json() for s in steps],
            "outputs": [o.as_json() for o in outputs.items],
            "outputs_pagination": pagination_json(outputs),
        }

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

    class Meta:
        indexes = [
            # Expanded row and step counts: pipeline_id=? ORDER BY order, id
            models.Index(fields=["pipeline", "order", "id"], name="step_pipeline_order"),
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
    def model_label(self):
        return settings.GENERATION_MODELS.get(self.model_name, {}).get("label", self.model_name)

    @property
    def prompt(self):
        return self.config.get("prompt", "")


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
