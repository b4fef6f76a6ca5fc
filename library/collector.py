"""The media collector: deletes stored files that no asset references any more.

Candidates are tombstones (library.models.Tombstone), written from two sides:
- deleting assets buries their files' names, due at once (delete_in_bulk for
  the Library and the API, the post_delete signal for the admin and for users
  deleted with their assets);
- the scan (`collect_media --scan`, daily from beat) lists the storage and
  buries every file of a known layout that no asset references, due after
  MEDIA_GC_GRACE_SECONDS: files of an upload or a job that died between
  storing and committing, renditions a re-render replaced, and the legacy
  shared files once scope_media has copied them into their owners' folders.

A due tombstone is collected in a transaction of its own batch: its row is
locked (FOR UPDATE SKIP LOCKED), the name's references are checked again, the
file is deleted if there are none, and the row is deleted either way.

Why a referenced file is never deleted:
- References are checked when the file is deleted, not when it was buried, and
  by name: an original through the (owner, sha256) unique index (its name
  carries both), a rendition through the asset key in its name, a legacy name
  (shared by every owner with the same bytes) against every asset.
- Every writer about to reference a name first deletes its tombstone, then
  looks for the file (media.store_all: uploads, renditions, generated outputs,
  scope_media). That delete waits while a collection holds the row, so either
  the writer comes first (the tombstone is gone: nothing to collect) or the
  collection does and the writer, finding no file afterwards, writes it again.
  So the same bytes uploaded again while their deleted asset's files await
  collection are safe: the upload saves its row (which waits for a delete of
  the same owner and bytes in progress to commit), then withdraws the
  original's tombstone before it reuses the file; its renditions, made again
  under the same names, withdraw theirs.
- A writer that stored a file and hasn't committed its row yet may see the
  scan bury that file: the grace period (an hour by default, far longer than
  any request or processing job takes between storing and committing) lets the
  commit land first, and the check under the lock then keeps the file.
"""

import logging
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .media import ORIGINAL, RENDITION, parse
from .models import Asset, Tombstone, stored_names

logger = logging.getLogger(__name__)

TASK_NAME = "library.tasks.collect_media"
# Top folders of the layouts the collector knows; nothing else in the storage is touched.
ROOTS = ("u/", "originals/", "r/")
# Rendition keys per query: each is a range condition, and SQLite parses the OR of them recursively.
KEYS_PER_QUERY = 100


class Collection(NamedTuple):
    deleted: int
    kept: int
    waiting: int
    found: int | None  # unreferenced files the scan buried (None: no scan)
    dry_run: bool

    def summary(self):
        verb = "would be deleted" if self.dry_run else "deleted"
        line = f"collect_media: {self.deleted} files {verb}, {self.kept} still referenced, {self.waiting} not due yet"
        if self.found is not None:
            line += f"; the scan {'found' if self.dry_run else 'buried'} {self.found} unreferenced files"
        return line


def collect(dry_run=False, scan=False, now=None, batch=None):
    """Collect every due tombstone (after a scan, if asked); a Collection of what happened.

    With dry_run nothing is written or deleted: the counts say what would be.
    """
    now = now or timezone.now()
    batch = batch or settings.MEDIA_GC_BATCH
    found = _scan(dry_run, now, batch) if scan else None
    if dry_run:
        deleted, kept = _judge_due(now, batch)
    else:
        deleted = kept = 0
        while True:
            done = _collect_batch(now, batch)
            if done is None:
                break
            deleted, kept = deleted + done[0], kept + done[1]
    waiting = Tombstone.objects.filter(due_at__gt=now).count()
    return Collection(deleted, kept, waiting, found, dry_run)


def _collect_batch(now, batch):
    """(deleted, kept) for one locked batch of due tombstones, or None when none is left."""
    with transaction.atomic():
        names = list(
            Tombstone.objects.due(now).select_for_update(skip_locked=True).values_list("name", flat=True)[:batch]
        )
        if not names:
            return None
        keep = referenced(names)
        doomed = [name for name in names if name not in keep]
        for name in doomed:
            default_storage.delete(name)  # a file already gone is no error
        Tombstone.objects.filter(name__in=names).delete()
    return len(doomed), len(names) - len(doomed)


def _judge_due(now, batch):
    deleted = kept = 0
    for names in _chunks(Tombstone.objects.due(now).values_list("name", flat=True).iterator(batch), batch):
        keep = referenced(names)
        kept += sum(1 for name in names if name in keep)
        deleted += sum(1 for name in names if name not in keep)
    return deleted, kept


def _scan(dry_run, now, batch):
    """Bury (or, dry, count) every stored file of a known layout that nothing references."""
    due = now + timedelta(seconds=settings.MEDIA_GC_GRACE_SECONDS)
    found = 0
    for names in _chunks((name for name in _walk() if parse(name)), batch):
        keep = referenced(names)
        orphans = [name for name in names if name not in keep]
        found += len(orphans)
        if orphans and not dry_run:
            Tombstone.objects.bury(orphans, due=due)
    return found


def _walk():
    for root in ROOTS:
        yield from _files_under(root)


def _files_under(folder):
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield folder + name
    for sub in sorted(dirs):
        yield from _files_under(f"{folder}{sub}/")


def referenced(names):
    """The subset of `names` that some asset references (names of no known layout count as referenced)."""
    originals, keys, legacy, refs = defaultdict(set), defaultdict(set), set(), set()
    for name in names:
        stored = parse(name)
        if stored is None:
            refs.add(name)  # not ours to judge: never deleted
        elif stored.is_legacy:
            legacy.add(name)
        elif stored.kind == ORIGINAL:
            originals[stored.owner_id].add(stored.sha256)
        elif stored.kind == RENDITION:
            keys[stored.owner_id].add(stored.key)
    for owner_id, shas in originals.items():
        # The (owner, sha256) unique index.
        refs.update(Asset.objects.filter(owner_id=owner_id, sha256__in=shas).values_list("original", flat=True))
    for owner_id, owner_keys in keys.items():
        owner_keys = sorted(owner_keys)
        for start in range(0, len(owner_keys), KEYS_PER_QUERY):
            refs.update(_rendition_names(owner_id, owner_keys[start : start + KEYS_PER_QUERY]))
    if legacy:
        refs.update(_legacy_references(legacy))
    return {name for name in names if name in refs}


def _rendition_names(owner_id, keys):
    # A range per key on the (owner, sha256) unique index: hex digits sort the
    # same in every collation, and "g" comes after all of them.
    prefixes = Q()
    for key in keys:
        prefixes |= Q(sha256__gte=key, sha256__lt=key + "g")
    rows = Asset.objects.filter(prefixes, owner_id=owner_id).values_list("renditions", flat=True)
    return {entry["name"] for renditions in rows for entry in (renditions or {}).values() if entry.get("name")}


def _legacy_references(legacy):
    """Which legacy names any asset of any owner still references: one pass over every asset.

    Legacy files exist only until scope_media has moved every asset to the
    owner layout, and they are shared across owners, so nothing narrower is
    safe; this pass only runs for batches that hold legacy names.
    """
    found = set()
    rows = Asset.objects.order_by().values_list("original", "renditions").iterator(5000)
    for original, renditions in rows:
        found.update(name for name in stored_names(original, renditions) if name in legacy)
    return found


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def collect_soon():
    """Ask a worker to collect now (after deletes); never raises: beat collects periodically anyway."""
    try:
        current_app.send_task(TASK_NAME, queue=settings.MEDIA_GC_QUEUE, retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the periodic collection does it
        logger.warning("could not ask for a media collection; beat's next one will do it", exc_info=True)
