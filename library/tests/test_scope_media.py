"""manage.py scope_media: files stored before media had owners move into their owners' folders."""

import io

from django.core.files.storage import default_storage
from django.core.management import call_command

from library import collector
from library.media import parse
from library.models import Asset, Tombstone, stored_names
from library.tests import files
from library.tests.legacy import legacy_asset


def run(*args):
    out = io.StringIO()
    call_command("scope_media", *args, stdout=out)
    return out.getvalue().strip()


def contents(names):
    result = {}
    for name in names:
        with default_storage.open(name) as f:
            result[name] = f.read()
    return result


def test_it_copies_each_assets_files_into_its_owners_folder(owner, other, owner_client):
    data = files.png()
    alices, bobs = legacy_asset(owner, data), legacy_asset(other, data)
    old = set(stored_names(alices.original.name, alices.renditions))
    old_bytes = contents(old)
    assert run() == (
        f"scope_media: 2 assets moved into their owners' folders ({2 * len(old)} files); "
        "0 files were missing from the storage and left as they were"
    )
    for asset in (alices, bobs):
        asset.refresh_from_db()
        names = stored_names(asset.original.name, asset.renditions)
        assert all(parse(n).owner_id == asset.owner_id for n in names)
        assert set(contents(names).values()) == set(old_bytes.values()), "the same bytes, copied"
    # The owner now gets them through the media view; the old shared files go to the collector.
    assert owner_client.get(alices.rendition_300["url"]).status_code == 200
    assert set(Tombstone.objects.values_list("name", flat=True)) == old
    assert collector.collect().deleted == len(old)
    assert not any(default_storage.exists(n) for n in old)


def test_it_changes_nothing_on_a_dry_run_and_nothing_the_second_time(owner):
    asset = legacy_asset(owner, files.png())
    before = set(stored_names(asset.original.name, asset.renditions))
    moving = len(before)
    assert run("--dry-run").startswith(f"scope_media: 1 assets would be moved into their owners' folders ({moving} files)")
    asset.refresh_from_db()
    assert set(stored_names(asset.original.name, asset.renditions)) == before and not Tombstone.objects.exists()
    assert run().startswith("scope_media: 1 assets moved")
    assert run().startswith("scope_media: 0 assets moved into their owners' folders (0 files)")


def test_it_leaves_a_missing_file_as_it_was(owner):
    asset = legacy_asset(owner, files.png())
    default_storage.delete(asset.original.name)
    assert run().endswith("1 files were missing from the storage and left as they were")
    asset.refresh_from_db()
    assert asset.original.name.startswith("originals/")
    assert all(parse(entry["name"]).owner_id == owner.id for entry in asset.renditions.values())


def test_it_skips_assets_already_in_their_owners_folder(owner, stored_asset):
    asset = stored_asset(owner)
    assert run().startswith("scope_media: 0 assets moved")
    assert Asset.objects.get(pk=asset.pk).renditions == asset.renditions


def test_it_is_silent_at_verbosity_0_when_there_is_nothing_to_move(owner):
    assert run("-v0") == ""
    legacy_asset(owner, files.png())
    assert run("-v0").startswith("scope_media: 1 assets moved")
