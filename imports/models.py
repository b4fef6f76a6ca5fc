import hashlib
import json

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportSourceQuerySet(models.QuerySet):
    def recognise(self, owner, landmarks, label, create=True):
        """The owner's ImportSource for a database with these landmarks (see
        Source.landmarks()), made on first sight unless `create` is False.

        A database is recognised by any first row it shares with one imported
        before, so a copy moved elsewhere, or one whose very first pipeline was
        deleted since, is still the same source and nothing is imported twice.
        """
        fingerprint = hashlib.sha256(json.dumps(sorted(landmarks)).encode()).hexdigest()
        known = list(self.filter(owner=owner))
        source = next((s for s in known if s.fingerprint == fingerprint), None)
        source = source or next((s for s in known if set(s.landmarks) & set(landmarks)), None)
        if source is None:
            if not create:
                return None
            return self.create(owner=owner, fingerprint=fingerprint, landmarks=sorted(landmarks), label=label[:500])
        if create:
            source.landmarks = sorted(set(source.landmarks) | set(landmarks))
            source.label = label[:500]
            source.save(update_fields=["landmarks", "label", "last_import_at"])
        return source


class ImportSource(models.Model):
    """An i2v database someone imported from."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_sources")
    # Of the landmarks first seen; with them, what recognises the database again.
    fingerprint = models.CharField(max_length=64)
    landmarks = models.JSONField(default=list)
    label = models.CharField(max_length=500)  # where it was read last (a path, or a URL without password)
    created_at = models.DateTimeField(default=timezone.now)
    last_import_at = models.DateTimeField(auto_now=True)

    objects = ImportSourceQuerySet.as_manager()

    class Meta:
        constraints = [
            # recognise(): owner=? (then matched in Python; an owner has a handful)
            models.UniqueConstraint(fields=["owner", "fingerprint"], name="importsource_owner_fingerprint"),
        ]

    def __str__(self):
        return self.label


class ImportRecordQuerySet(models.QuerySet):
    def imported_ids(self, source, table, ids):
        """Which of these source ids of `table` were imported from `source` already."""
        if source is None:
            return set()
        return set(self.filter(source=source, table=table, row_id__in=ids).values_list("row_id", flat=True))


class ImportRecord(models.Model):
    """One i2v record imported: (source, table, id) -> the pipeline it became.

    Written in the same transaction as the pipeline, so after a crash a record
    exists exactly for what was committed, and the next run goes on from there.
    A pipeline deleted here since keeps its record (pipeline set to NULL): it
    stays deleted however often the import runs again.
    """

    source = models.ForeignKey(ImportSource, on_delete=models.CASCADE, related_name="records")
    table = models.CharField(max_length=20)  # pipelines, jobs, image_jobs, batch_jobs
    row_id = models.BigIntegerField()  # the id in that i2v table
    pipeline = models.ForeignKey("jobs.Pipeline", on_delete=models.SET_NULL, null=True, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)

    objects = ImportRecordQuerySet.as_manager()

    class Meta:
        constraints = [
            # imported_ids(): source_id=? AND table=? AND row_id IN (...), once per batch
            models.UniqueConstraint(fields=["source", "table", "row_id"], name="importrecord_source_row"),
        ]

    def __str__(self):
        return f"{self.table} #{self.row_id}"
