"""Moving files out of the layout they had before media had owners.

Before, originals were stored as originals/<sha[:2]>/<sha>.<ext> and renditions
as r/<hash[:2]>/<hash[2:32]>.jpg, shared by every owner with the same bytes, and
served to anyone. Now each owner has a folder (library/media.py), and the media
view serves nothing else to non-staff users. scope_media() copies each asset's
files into its owner's folder, points the row at the copies, and hands the old
names to the collector, which deletes each once no asset of any owner
references it. It is idempotent and resumable: assets already moved are skipped.
"""

import hashlib
from typing import NamedTuple

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from i2v.lib.cache import bump_owner_version

from .media import original_name, parse, rendition_name, store_all
from .models import Asset, Tombstone, stored_names


class Scoped(NamedTuple):
    assets: int
    files: int
    missing: int
    dry_run: bool

    def summary(self):
        verb = "would be moved" if self.dry_run else "moved"
        return (
            f"scope_media: {self.assets} assets {verb} into their owners' folders ({self.files} files); "
            f"{self.missing} files were missing from the storage and left as they were"
        )


def scope_media(dry_run=False, batch=200):
    assets = files = missing = 0
    owners, last_id = set(), 0
    while True:
        rows = Asset.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", "owner_id", "original", "renditions")
        rows = list(rows[:batch])
        if not rows:
            break
        last_id = rows[-1][0]
        for pk, owner_id, original, renditions in rows:
            legacy = {name for name in stored_names(original, renditions) if _is_legacy(name)}
            if not legacy:
                continue
            if dry_run:
                assets, files = assets + 1, files + len(legacy)
                continue
            moved, lost = _scope_asset(pk)
            assets, files, missing = assets + bool(moved), files + moved, missing + lost
            owners.add(owner_id)
    for owner_id in owners:  # once per owner, for lists of either kind
        bump_owner_version("library", owner_id)
        bump_owner_version("jobs", owner_id)
    return Scoped(assets, files, missing, dry_run)


def _is_legacy(name):
    stored = parse(name)
    return stored is not None and stored.is_legacy


def _scope_asset(pk):
    """Copy one asset's legacy files into its owner's folder; (files moved, files missing)."""
    with transaction.atomic():
        # Locked: a worker recording renditions for it meanwhile waits, and merges into the new names.
        asset = Asset.objects.select_for_update().only("id", "owner_id", "sha256", "original", "renditions").get(pk=pk)
        renames, copies, lost = {}, {}, 0
        for old in [name for name in dict.fromkeys(stored_names(asset.original.name, asset.renditions)) if _is_legacy(name)]:
            try:
                with default_storage.open(old, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                lost += 1
                continue
            ext = old.rsplit(".", 1)[-1]
            if old == asset.original.name:
                new = original_name(asset.owner_id, asset.sha256, ext)
            else:
                new = rendition_name(asset.owner_id, asset.sha256, hashlib.sha256(data).hexdigest(), ext)
            renames[old] = new
            copies[new] = ContentFile(data)
        if not renames:
            return 0, lost
        store_all(copies)
        renditions = {
            size: {**entry, "name": renames.get(entry.get("name"), entry.get("name"))}
            for size, entry in (asset.renditions or {}).items()
        }
        original = renames.get(asset.original.name, asset.original.name)
        # update(), not save(): no per-row signal; scope_media() bumps each owner's lists once.
        Asset.objects.filter(pk=pk).update(original=original, renditions=renditions)
        Tombstone.objects.bury(renames)
    return len(renames), lost
