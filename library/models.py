from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone


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
    pass


class Asset(models.Model):
    """Every image or video a user has: uploaded or generated."""

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

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    original = models.FileField(upload_to=original_path, max_length=255)
    filename = models.CharField(max_length=255, blank=True)
    prompt = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
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
        ]

    def __str__(self):
        return self.filename or self.sha256[:12]

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
