"""/library/delete: deleting assets from the Library, one or many, after a confirmation."""

import re

import pytest
from django.core.files.storage import default_storage

from conftest import make_asset, make_pipeline
from jobs.models import Output, Pipeline, Step
from library import collector
from library.models import Asset, Tombstone, stored_names
from library.tests.files import files_under
from media_processing.models import ProcessingJob

HX = {"HTTP_HX_REQUEST": "true"}


def delete(client, assets, **extra):
    return client.post("/library/delete", {"ids": [a.id for a in assets]}, **extra)


def test_it_deletes_the_selected_assets_and_removes_their_tiles_out_of_band(owner_client, owner):
    mine = [make_asset(owner) for _ in range(3)]
    response = delete(owner_client, mine[:2], **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(int(i) for i in re.findall(r'<li id="asset-(\d+)" hx-swap-oob="delete">', html)) == [a.id for a in mine[:2]]
    assert "Deleted 2 assets." in html
    assert response["HX-Trigger"] == '{"totalChanged": {"by": -2, "noun": "asset"}}'  # app.js lowers the count
    assert list(Asset.objects.values_list("id", flat=True)) == [mine[2].id]


def test_it_ignores_other_users_ids(owner_client, owner, other):
    theirs = make_asset(other)
    response = delete(owner_client, [theirs], **HX)
    assert response.status_code == 200 and "Deleted 0 assets." in response.content.decode()
    assert Asset.objects.filter(pk=theirs.pk).exists()
    assert not Tombstone.objects.exists()


def test_it_requires_login(client, owner):
    asset = make_asset(owner)
    response = delete(client, [asset])
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_it_works_as_a_plain_form_with_a_confirmation_page(owner_client, owner, other):
    mine, theirs = make_asset(owner), make_asset(other)
    page = owner_client.get("/library/delete", {"ids": [mine.id, theirs.id]})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Delete 1 asset?" in html
    assert f'<input type="hidden" name="ids" value="{mine.id}">' in html
    assert mine.rendition_300["url"] in html and theirs.rendition_300["url"] not in html
    assert Asset.objects.filter(pk=mine.pk).exists(), "a GET deletes nothing"

    response = owner_client.post("/library/delete", {"ids": [mine.id]})
    assert response.status_code == 302 and response["Location"] == "/library/"
    assert list(Asset.objects.values_list("id", flat=True)) == [theirs.id]


def test_it_returns_a_plain_form_to_the_librarys_filters_and_says_what_it_deleted(owner_client, owner):
    first, second = make_asset(owner), make_asset(owner)
    page = owner_client.get("/library/?source=upload&q=red").content.decode()
    assert '<input type="hidden" name="back" value="source=upload&amp;q=red">' in page
    back = "source=upload&q=red&cursor=zzz&next=//evil.example&kind=<b>"
    html = owner_client.get("/library/delete", {"ids": [first.id, second.id], "back": "source=upload&q=red"}).content.decode()
    assert '<a href="/library/?source=upload&amp;q=red">Cancel</a>' in html
    assert '<input type="hidden" name="back" value="source=upload&amp;q=red">' in html

    response = owner_client.post("/library/delete", {"ids": [first.id, second.id], "back": "source=upload&q=red"}, follow=True)
    assert response.redirect_chain == [("/library/?source=upload&q=red", 302)]
    assert "Deleted 2 assets." in response.content.decode()
    assert not owner.assets.exists()
    # Anything but the Library's valid filters is left out; invalid ones go back to the whole Library.
    assert owner_client.get("/library/delete", {"ids": ["1"], "back": back}).status_code == 200
    for hostile, url in ((back, "/library/"), ("source=upload&next=//evil.example", "/library/?source=upload"), ("%00", "/library/")):
        response = owner_client.post("/library/delete", {"ids": ["1"], "back": hostile})
        assert response.status_code == 302 and response["Location"] == url, hostile


def test_it_says_on_the_confirmation_page_which_pipelines_lose_outputs(owner_client, owner):
    pipeline = make_pipeline(owner, outputs=2)
    ids = list(pipeline.outputs.values_list("asset_id", flat=True)) + [make_asset(owner).id]
    html = owner_client.get("/library/delete", {"ids": ids}).content.decode()
    assert "Delete 3 assets?" in html
    assert "2 of them are outputs of 1 pipeline" in html


def test_it_is_reached_by_the_librarys_checkboxes_as_a_plain_form(owner_client, owner):
    asset = make_asset(owner)
    html = owner_client.get("/library/").content.decode()
    assert '<form id="picks" method="get" action="/library/delete">' in html
    assert f'name="ids" form="picks" value="{asset.id}"' in html
    assert 'data-delete-selected hx-post="/library/delete"' in html


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "Select some assets first."),
        ({"ids": ["x"]}, "is not an asset id"),
        ({"ids": ["-1"]}, "is not an asset id"),
        ({"ids": ["0"]}, "is not an asset id"),
        ({"ids": ["9" * 30]}, "is not an asset id"),
        ({"ids": [str(i) for i in range(1, 1003)]}, "Select at most 1000 assets at once."),
    ],
)
def test_it_explains_a_bad_selection_with_a_422(owner_client, owner, data, message):
    make_asset(owner)
    htmx = owner_client.post("/library/delete", data, **HX)
    assert htmx.status_code == 422 and message in htmx.content.decode()
    assert htmx["HX-Reswap"] == "none"  # the toast says it; the selection bar is left as it is
    plain = owner_client.get("/library/delete", data)
    assert plain.status_code == 422 and message in plain.content.decode()
    assert Asset.objects.count() == 1


def test_it_removes_an_output_from_its_pipeline_but_keeps_the_pipeline(owner_client, owner):
    pipeline = make_pipeline(owner, outputs=3, steps=2)
    doomed = Output.objects.filter(pipeline=pipeline).order_by("position").first().asset
    delete(owner_client, [doomed], **HX)
    assert not Asset.objects.filter(pk=doomed.pk).exists()
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert Step.objects.filter(pipeline=pipeline).count() == 2
    assert Output.objects.filter(pipeline=pipeline).count() == 2


def test_it_deletes_processing_jobs_with_their_assets(owner_client, owner, stored_asset):
    asset = stored_asset(owner)
    assert ProcessingJob.objects.filter(asset=asset).exists()
    delete(owner_client, [asset], **HX)
    assert not ProcessingJob.objects.exists()


def test_it_deletes_the_files_once_collected(owner_client, owner, other, stored_asset, settings, django_capture_on_commit_callbacks, memory_broker):
    mine, kept = stored_asset(owner), stored_asset(owner, colour=(1, 2, 3))
    theirs = stored_asset(other)  # the same bytes as `mine`, in bob's folder
    names = set(stored_names(mine.original.name, mine.renditions))  # 600 and 300 px are the same bytes here
    assert all(default_storage.exists(n) for n in names)

    with django_capture_on_commit_callbacks(execute=True):
        delete(owner_client, [mine], **HX)
    # The delete asked a worker to collect now (on the media worker's housekeeping queue).
    with memory_broker.connection_for_write() as conn:
        message = conn.default_channel.basic_get(queue="backfill", no_ack=True)
    assert message.headers["task"] == "library.tasks.collect_media"

    assert f"collect_media: {len(names)} files deleted, 0 still referenced" in collector.collect().summary()
    assert not any(default_storage.exists(n) for n in names)
    left = {n for asset in (kept, theirs) for n in stored_names(asset.original.name, asset.renditions)}
    assert set(files_under(settings.MEDIA_ROOT)) == left


def test_it_drops_the_tiles_from_the_cached_list(owner_client, owner, django_capture_on_commit_callbacks):
    asset = make_asset(owner)
    assert f'id="asset-{asset.id}"' in owner_client.get("/library/", **HX).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        delete(owner_client, [asset], **HX)
    assert f'id="asset-{asset.id}"' not in owner_client.get("/library/", **HX).content.decode()


def test_it_deletes_many_in_the_same_few_queries_and_bumps_each_list_once(
    owner_client, owner, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # No asset, processing job or output is loaded row by row, and no per-row signal queues a cache write.
    few = [make_asset(owner) for _ in range(2)]
    many = [make_asset(owner) for _ in range(40)]
    for asset in many[:10]:
        make_pipeline(owner, outputs=0).outputs.create(owner=owner, step=Step.objects.last(), asset=asset)

    with django_capture_on_commit_callbacks() as few_callbacks:
        with django_assert_num_queries(QUERIES):
            delete(owner_client, few, **HX)
    with django_capture_on_commit_callbacks() as many_callbacks:
        with django_assert_num_queries(QUERIES):
            delete(owner_client, many, **HX)
    # One version bump per list kind of the one owner, and one request to collect.
    assert len(few_callbacks) == len(many_callbacks) == 3
    assert not Asset.objects.exists() and not Output.objects.exists()


# (The session's user is cached.) delete_in_bulk's transaction (a savepoint in a test): lock the rows (ids and owners),
# read their file names, bury them (one insert per 1,000), delete the outputs, check that none came back
# (Output.asset is PROTECT), delete the processing jobs, delete the assets.
QUERIES = 9
