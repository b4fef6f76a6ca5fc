"""manage.py collect_media and the collector behind it (library/collector.py): files nothing
references are deleted, and a referenced file never is."""

import hashlib
import io
import shutil
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from library import collector
from library.legacy import scope_media
from library.media import original_name
from library.models import Asset, Tombstone, stored_names
from library.tasks import collect_media
from library.tests import files
from library.tests.legacy import legacy_asset
from media_processing.renditions import render_image

LATER = timedelta(seconds=django_settings.MEDIA_GC_GRACE_SECONDS + 1)


def upload(owner, data, name="photo.png"):
    """Upload `data` as the app does, and make its renditions as the worker does."""
    asset, _ = Asset.objects.ingest(owner, SimpleUploadedFile(name, data))
    if not asset.renditions:
        asset.save(update_fields=render_image(asset))
    return asset


def names_of(*assets):
    return {name for asset in assets for name in stored_names(asset.original.name, asset.renditions)}


def existing(names):
    return {name for name in names if default_storage.exists(name)}


def run(*args):
    out = io.StringIO()
    call_command("collect_media", *args, stdout=out)
    return out.getvalue().strip()


def test_it_deletes_the_files_of_deleted_assets_with_a_one_line_summary(owner):
    kept, doomed = upload(owner, files.png(colour=(1, 1, 1))), upload(owner, files.png(colour=(2, 2, 2)))
    Asset.objects.filter(pk=doomed.pk).delete_in_bulk()
    assert run() == f"collect_media: {len(names_of(doomed))} files deleted, 0 still referenced, 0 not due yet"
    assert existing(names_of(doomed)) == set()
    assert existing(names_of(kept)) == names_of(kept)
    assert not Tombstone.objects.exists()


def test_it_collects_after_an_admin_delete(owner):
    # Deleted through the ORM (the admin, or a user deleted with their assets): the signal buries the files.
    asset = upload(owner, files.png())
    asset.delete()
    assert run().startswith(f"collect_media: {len(names_of(asset))} files deleted")
    assert existing(names_of(asset)) == set()


def test_it_changes_nothing_on_a_dry_run(owner):
    asset = upload(owner, files.png())
    Asset.objects.filter(pk=asset.pk).delete_in_bulk()
    orphan = default_storage.save(original_name(owner.id, "ab" * 32, "png"), ContentFile(b"left by a crash"))
    summary = run("--dry-run", "--scan")
    count = len(names_of(asset))
    assert summary == (
        f"collect_media: {count} files would be deleted, 0 still referenced, 0 not due yet; "
        f"the scan found {count + 1} unreferenced files"
    )
    assert existing(names_of(asset) | {orphan}) == names_of(asset) | {orphan}
    assert Tombstone.objects.count() == count


def test_it_buries_what_the_scan_finds_and_deletes_it_after_the_grace_period(owner):
    asset = upload(owner, files.png())
    orphan = default_storage.save(original_name(owner.id, "ab" * 32, "png"), ContentFile(b"left by a crash"))
    summary = collector.collect(scan=True).summary()
    assert summary == "collect_media: 0 files deleted, 0 still referenced, 1 not due yet; the scan buried 1 unreferenced files"
    assert default_storage.exists(orphan), "the grace period lets a writer that stored it commit first"
    later = collector.collect(now=timezone.now() + LATER)
    assert (later.deleted, later.kept, later.waiting) == (1, 0, 0)
    assert not default_storage.exists(orphan)
    assert existing(names_of(asset)) == names_of(asset)


def test_it_never_scans_away_files_of_no_known_layout(owner):
    strays = [default_storage.save(name, ContentFile(b"x")) for name in ("notes.txt", "u/1/o/readme.md", "static/a.css")]
    collector.collect(scan=True, now=timezone.now())
    assert collector.collect(now=timezone.now() + LATER).deleted == 0
    assert existing(strays) == set(strays)


def test_it_keeps_a_file_uploaded_again_before_the_collection(owner):
    # Deleted, then the same bytes uploaded again before a worker collected: the upload withdrew the tombstones.
    data = files.png()
    first = upload(owner, data)
    Asset.objects.filter(pk=first.pk).delete_in_bulk()
    again = upload(owner, data)
    assert again.original.name == first.original.name and names_of(again) == names_of(first)
    assert not Tombstone.objects.exists()
    collector.collect()
    assert existing(names_of(again)) == names_of(again)


def test_it_keeps_a_buried_file_that_became_referenced_again(owner):
    # A tombstone whose name an asset references by the time it is due: kept, and the tombstone goes.
    asset = upload(owner, files.png())
    Tombstone.objects.bury(names_of(asset))
    result = collector.collect()
    assert (result.deleted, result.kept) == (0, len(names_of(asset)))
    assert existing(names_of(asset)) == names_of(asset)
    assert not Tombstone.objects.exists()


def test_it_deletes_an_old_shared_file_only_once_no_owner_references_it(owner, other):
    data = files.png()
    alices, bobs = legacy_asset(owner, data), legacy_asset(other, data)
    assert names_of(alices) == names_of(bobs), "the old layout shared files across owners"
    Asset.objects.filter(pk=alices.pk).delete_in_bulk()
    assert collector.collect().kept == len(names_of(bobs))
    assert existing(names_of(bobs)) == names_of(bobs)
    Asset.objects.filter(pk=bobs.pk).delete_in_bulk()
    assert collector.collect().deleted == len(names_of(bobs))
    assert existing(names_of(bobs)) == set()


def test_it_runs_as_a_periodic_task(owner):
    asset = upload(owner, files.png())
    Asset.objects.filter(pk=asset.pk).delete_in_bulk()
    assert collect_media().startswith(f"collect_media: {len(names_of(asset))} files deleted")
    assert collect_media(scan=True).endswith("the scan buried 0 unreferenced files")


def test_it_is_scheduled_by_beat_on_the_media_workers_housekeeping_queue():
    schedule = {entry["task"]: entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values() if "media" in entry["task"]}
    assert schedule, "collect_media is scheduled"
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "library.tasks.collect_media"]
    assert sorted(bool(e.get("kwargs", {}).get("scan")) for e in entries) == [False, True]
    assert django_settings.CELERY_TASK_ROUTES["library.tasks.collect_media"] == {"queue": "backfill"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs concurrent transactions (PostgreSQL)")
def test_it_makes_an_upload_of_the_same_bytes_wait_and_store_the_file_again(owner):
    """The race the tombstones' lock settles: the collector has locked the tombstone of
    an original and is deleting the file while the owner uploads the same bytes again."""
    data = files.png()
    first = upload(owner, data)
    Asset.objects.filter(pk=first.pk).delete_in_bulk()
    deleting, finish = threading.Event(), threading.Event()
    real_delete = default_storage.delete

    def slow_delete(name):
        real_delete(name)
        if name == first.original.name:
            deleting.set()
            finish.wait(10)

    from unittest import mock

    def collect():
        try:
            with mock.patch.object(default_storage, "delete", slow_delete):
                collector.collect()
        finally:
            connection.close()

    collecting = threading.Thread(target=collect)
    collecting.start()
    assert deleting.wait(10), "the collection reached the original"
    uploaded = {}

    def upload_again():
        try:
            uploaded["asset"] = upload(owner, data)
        finally:
            connection.close()

    uploading = threading.Thread(target=upload_again)
    uploading.start()
    uploading.join(0.5)
    assert uploading.is_alive(), "the upload waits for the collection's lock on the tombstone"
    finish.set()
    collecting.join(10)
    uploading.join(10)
    again = uploaded["asset"]
    assert again.original.name == first.original.name
    assert existing(names_of(again)) == names_of(again)
    with default_storage.open(again.original.name) as f:
        assert f.read() == data


# --- Property: whatever happens, every file an asset references exists -------------------

CONTENTS = [files.png(size=(24, 16), colour=colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]


class MediaWorld(RuleBasedStateMachine):
    """Two owners upload a few contents (the same bytes across owners, renditions shared
    between sizes), in the owner layout and the old shared one; they delete, re-upload,
    leave crash orphans; scope_media moves the old files; the collector scans and collects
    at any point, before and after the grace period."""

    def __init__(self, owners):
        super().__init__()
        self.owners = owners
        self.now = timezone.now()
        Asset.objects.all().delete()
        Tombstone.objects.all().delete()
        shutil.rmtree(django_settings.MEDIA_ROOT, ignore_errors=True)

    @initialize(uploads=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2), st.booleans()), min_size=1, max_size=4))
    def start(self, uploads):
        for owner, content, old in uploads:
            self.upload(owner=owner, content=content, old=old)

    @rule(owner=st.integers(0, 1), content=st.integers(0, 2), old=st.booleans())
    def upload(self, owner, content, old):
        """Upload as the app does now, or as it did before files had owners."""
        if not old:
            upload(self.owners[owner], CONTENTS[content])
        elif not self.owners[owner].assets.filter(sha256=hashlib.sha256(CONTENTS[content]).hexdigest()).exists():
            legacy_asset(self.owners[owner], CONTENTS[content])

    @rule(owner=st.integers(0, 1), picks=st.lists(st.integers(0, 5), max_size=3))
    def delete_from_the_library(self, owner, picks):
        ids = list(self.owners[owner].assets.order_by("pk").values_list("pk", flat=True))
        chosen = [ids[i % len(ids)] for i in picks] if ids else []
        Asset.objects.filter(owner=self.owners[owner], pk__in=chosen).delete_in_bulk()

    @rule(pick=st.integers(0, 5))
    def delete_in_the_admin(self, pick):
        assets = list(Asset.objects.order_by("pk"))
        if assets:
            assets[pick % len(assets)].delete()

    @rule(owner=st.integers(0, 1), seed=st.integers(0, 3))
    def crash_after_storing(self, owner, seed):
        sha = hashlib.sha256(f"orphan {seed}".encode()).hexdigest()
        name = original_name(self.owners[owner].id, sha, "png")
        if not default_storage.exists(name):
            default_storage.save(name, ContentFile(b"never committed"))

    @rule()
    def scope_media(self):
        scope_media()

    @rule(scan=st.booleans(), later=st.booleans())
    def collect(self, scan, later):
        collector.collect(scan=scan, now=self.now)
        if later:  # past the grace period of what the scan buried
            self.now += LATER
            collector.collect(now=self.now)

    @invariant()
    def every_referenced_file_exists(self):
        referenced = {n for o, r in Asset.objects.values_list("original", "renditions") for n in stored_names(o, r)}
        missing = referenced - existing(referenced)
        assert not missing, f"referenced files were deleted: {sorted(missing)}"

    def teardown(self):
        # Once nothing references anything, a scan and a collection after the grace period leave no file.
        Asset.objects.all().delete()
        collector.collect(scan=True, now=self.now)
        collector.collect(now=self.now + LATER)
        assert list(_files()) == []


def _files():
    root = django_settings.MEDIA_ROOT
    return (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else ()


def test_it_never_deletes_a_referenced_file_and_leaves_nothing_unreferenced(owner, other):
    run_state_machine_as_test(
        lambda: MediaWorld([owner, other]),
        settings=settings(
            max_examples=40, stateful_step_count=10, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )  # fmt: skip

