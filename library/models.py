import datetime

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Lower
from django.urls import reverse
from django.utils import timezone

from i2v.lib.filters import created_between, text_search
from i2v.lib.pagination import Ordering, count_for_list, paginate
from media_processing.models import ProcessingJob

from . import uploads


def original_path(asset, filename):
    # Content-addressed: the same bytes always land on the same name.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"originals/{asset.sha256[:2]}/{asset.sha256}.{ext}"


def rendition(renditions, size):
    """{"url", "w", "h"} of one rendition from an Asset.renditions dict, or None.

    Shared by Asset and by list queries that annotate only the renditions field,
    so a list row never loads the whole asset.
    """
    entry = (renditions or {}).get(str(size))
    if not entry:
        return None
    return {"url": default_storage.url(entry["name"]), "w": entry["w"], "h": entry["h"]}


class AssetQuerySet(models.QuerySet):
    def filtered(self, *, kind="", source="", status="", q="", date_from=None, date_to=None):
        """The Library filters. Each maps onto an index named in Asset.Meta.indexes."""
        qs = self
        if kind:
            qs = qs.filter(kind=kind)
        if source:
            qs = qs.filter(source=source)
        if status:
            qs = qs.filter(processing_status=status)
        # search_text is a column the database generates, lowercased.
        return created_between(text_search(qs, q), date_from, date_to)

    def for_library(self):
        """Only the columns a tile or a list item shows (not exif, prompt or search_text)."""
        return self.only(*Asset.LIST_FIELDS)

    def library_list(self, filters, cursor, page_size):
        """(page, total) for the Library page and GET /api/library/images.

        Like the Jobs list, the total is counted for first pages only.
        """
        assets = self.filtered(**filters)
        page = paginate(assets.for_library(), Asset.ORDERING, cursor, page_size)
        total = None if cursor else assets.count_for_list()
        return page, total

    def count_for_list(self):
        return count_for_list(self)

    def ingest(self, owner, upload):
        """(asset, created) for one uploaded file, or UploadRejected.

        `upload` comes from uploads.HashingUploadHandler: already on disk and
        hashed. The same bytes from the same owner return their existing asset.
        A new one is identified by decoding its header, stored under its content
        address, saved and given its processing jobs; nothing is rendered here.
        If anything fails after the file was stored, the file is removed again,
        so a rejected upload leaves nothing behind.
        """
        uploads.check_streamed_size(upload)
        sha256 = uploads.sha256_of(upload)
        existing = self.filter(owner=owner, sha256=sha256).first()
        if existing:
            return existing, False
        probe = uploads.identify(upload)
        asset = Asset(
            owner=owner, kind=probe.kind, source=Asset.Source.UPLOAD, filename=uploads.display_name(upload.name),
            sha256=sha256, mime=probe.mime, bytes=upload.size, width=probe.width, height=probe.height,
            duration=probe.duration,
        )  # fmt: skip
        wrote = asset.store_original(upload, probe.ext)
        try:
            with transaction.atomic():
                asset.save()
                ProcessingJob.objects.schedule_upload(asset)
        except IntegrityError:
            # The same bytes arrived twice at once and the other request won.
            asset.discard_original(wrote)
            return self.get(owner=owner, sha256=sha256), False
        except BaseException:
            asset.discard_original(wrote)
            raise
        return asset, True


def _instant(moment):
    # Second precision in UTC, like the Jobs API: all a script needs, and short.
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Asset(models.Model):
    """Every image or video a user has: uploaded or generated."""

    # Newest first; the id makes the order unique, as keyset pagination needs.
    ORDERING = Ordering("newest", (("created_at", True), ("id", True)))
    # What a Library tile or an API list item shows; the list query loads nothing else.
    LIST_FIELDS = (
        "id", "owner_id", "kind", "source", "original", "filename", "mime", "width", "height",
        "duration", "renditions", "processing_status", "last_error", "created_at",
    )  # fmt: skip
    PENDING = ("pending", "processing")

    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        GENERATED = "generated"

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETE = "complete"
        FAILED = "failed"
        # Imported from i2v as a URL whose bytes are not here yet: a fetch job brings them.
        REMOTE = "remote", "Remote, not fetched yet"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    original = models.FileField(upload_to=original_path, max_length=255)
    filename = models.CharField(max_length=255, blank=True)
    prompt = models.TextField(blank=True)
    # Of the original's bytes; empty (NULL) only while a remote asset waits for its fetch,
    # so (owner, sha256) stays unique where it is known.
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    mime = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    bytes = models.BigIntegerField(default=0)
    exif = models.JSONField(default=dict, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    thumbhash = models.CharField(max_length=64, blank=True)
    # Which renditions exist and where: {"150": {"name": ..., "w": ..., "h": ...}, "300": ..., "600": ...}.
    # Pages build URLs from this field and never ask the storage whether a file exists.
    renditions = models.JSONField(default=dict, blank=True)
    processing_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    thumbnail_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    variant_status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Where an imported original lives elsewhere (i2v kept URLs of fal's CDN or R2). While
    # `original` is empty the bytes are only there; a "fetch" ProcessingJob (library/remote.py)
    # stores them and fills sha256, mime and size. Kept afterwards to say where it came from.
    remote_url = models.TextField(blank=True)
    # Lowercased filename and prompt for ?q=. Generated by the database, so every
    # way rows are written (save, bulk_create, update, seed_demo's COPY) keeps it
    # right. (SQLite's lower() folds ASCII only; PostgreSQL folds all of Unicode.)
    search_text = models.GeneratedField(
        expression=Lower(Concat("filename", Value(" "), "prompt", output_field=models.TextField())),
        output_field=models.TextField(),
        db_persist=True,
    )

    objects = AssetQuerySet.as_manager()

    class Meta:
        constraints = [
            # Dedupe: the same bytes are stored once per owner.
            models.UniqueConstraint(fields=["owner", "sha256"], name="asset_owner_sha256_uniq"),
        ]
        indexes = [
            # Library page, newest first: owner=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "-created_at", "-id"], name="asset_owner_created"),
            # Library page filtered by kind: owner=? AND kind=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "kind", "-created_at", "-id"], name="asset_owner_kind_created"),
            # Library page filtered by source: owner=? AND source=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "source", "-created_at", "-id"], name="asset_owner_source_created"),
            # Library page filtered by processing status (pending and failed are the ones asked for):
            # owner=? AND processing_status=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "processing_status", "-created_at", "-id"], name="asset_owner_status_created"),
            # (The date range uses asset_owner_created; ?q= uses a trigram index on
            # search_text, PostgreSQL only, in migration 0003.)
        ]

    def __str__(self):
        return self.filename or (self.sha256 or "")[:12]

    @property
    def is_remote(self):
        """Imported as a URL whose bytes have not been fetched yet."""
        return bool(self.remote_url) and not self.original

    def rendition(self, size):
        return rendition(self.renditions, size)

    @property
    def rendition_300(self):
        return self.rendition(300)

    @property
    def rendition_600(self):
        return self.rendition(600)

    @property
    def srcset(self):
        """srcset of the renditions that exist, for a browser to pick by density."""
        items = (rendition(self.renditions, size) for size in (150, 300, 600))
        return ", ".join(f"{r['url']} {r['w']}w" for r in items if r)

    @property
    def original_url(self):
        return self.original.url if self.original else None

    @property
    def is_pending(self):
        return self.processing_status in self.PENDING

    @property
    def status_url(self):
        return reverse("media_processing:api_status", args=[self.id])

    def as_list_item(self):
        """An item of GET /api/library/images: what a grid tile needs, no more."""
        thumb = self.rendition(300)
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "filename": self.filename,
            "width": self.width,
            "height": self.height,
            "thumbnail_url": thumb["url"] if thumb else None,
            "srcset": self.srcset,
            "original_url": self.original_url,
            "processing_status": self.processing_status,
            "created_at": _instant(self.created_at),
        }

    def store_original(self, upload, ext):
        """Store the uploaded file under its content address; True if this call wrote it.

        The name is made from the hash and the extension of the decoded format,
        never from the client's file name. A file someone already stored under
        that name holds the same bytes, so it is shared instead of copied.
        """
        name = original_path(self, f"upload.{ext}")
        if default_storage.exists(name):
            self.original.name = name
            return False
        # A temporary upload is moved into place by FileSystemStorage, not copied.
        self.original.save(f"upload.{ext}", upload, save=False)
        return True

    def discard_original(self, wrote):
        """Undo store_original() for an asset that will not be saved."""
        if wrote and self.original:
            default_storage.delete(self.original.name)
