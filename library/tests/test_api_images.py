"""GET /api/library/images: the owner's assets, newest first, by keyset cursor, with the Library's filters."""

import datetime
import json

import pytest
from django.db import connection
from django.utils import timezone

from conftest import first_page_queries, make_asset
from i2v.models import ApiToken
from library.models import Asset
from library.tests import files
from library.tests.files import post_files, uploaded
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

URL = "/api/library/images"


def get(client, query="", **headers):
    response = client.get(f"{URL}?{query}", **headers)
    return response, json.loads(response.content)


def ids(data):
    return [i["id"] for i in data["items"]]


@pytest.fixture
def library(owner):
    """Twelve assets a minute apart (the last made is the newest): images and
    videos, uploaded and generated, in every processing status; every third a favourite."""
    start = timezone.now() - datetime.timedelta(days=1)
    made = []
    for i in range(12):
        asset = make_asset(owner, kind="video" if i % 4 == 0 else "image", renditions=i % 3 != 0)
        asset.created_at = start + datetime.timedelta(minutes=i)
        asset.source = "upload" if i % 2 else "generated"
        asset.processing_status = ["complete", "pending", "failed", "processing"][i % 4]
        asset.filename = f"Holiday-{i:02d}.jpg" if i < 6 else f"work-{i:02d}.png"
        asset.prompt = "a red fox in the snow" if i == 7 else ""
        asset.is_favorite = i % 3 == 1
        asset.save()
        made.append(asset)
    return made


def test_it_lists_small_items_with_the_pagination_object(owner_client, library):
    response, data = get(owner_client, "page_size=5")
    assert response.status_code == 200
    assert ids(data) == [a.id for a in reversed(library)][:5]
    newest = library[-1]
    assert data["items"][0] == {
        "id": newest.id, "kind": newest.kind, "source": newest.source, "filename": newest.filename,
        "width": 1024, "height": 768,
        "thumbnail_url": f"/media/{newest.renditions['300']['name']}",
        "srcset": newest.srcset, "original_url": f"/media/{newest.original.name}",
        "processing_status": newest.processing_status,
        "created_at": newest.created_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
    assert "150w" in newest.srcset and "600w" in newest.srcset
    page = data["pagination"]
    assert page["page_size"] == 5 and page["has_next"] and not page["has_previous"]
    assert page["total_count"] == 12 and page["total_is_estimate"] is False


def test_it_has_no_thumbnail_for_an_asset_not_yet_processed(owner_client, library):
    _, data = get(owner_client)
    bare = next(i for i in data["items"] if i["id"] == library[3].id)
    assert bare["thumbnail_url"] is None and bare["srcset"] == ""


def test_it_defaults_to_50_per_page(owner_client, owner):
    for _ in range(51):
        make_asset(owner)
    _, data = get(owner_client)
    assert len(data["items"]) == 50 and data["pagination"]["has_next"]


def test_it_walks_forward_and_back_without_gaps(owner_client, library):
    expected = [a.id for a in reversed(library)]
    seen, cursor, pages = [], "", []
    while True:
        _, data = get(owner_client, f"page_size=5&cursor={cursor}")
        pages.append(data)
        seen += ids(data)
        if not data["pagination"]["has_next"]:
            break
        cursor = data["pagination"]["next_cursor"]
    assert seen == expected and len(pages) == 3
    assert pages[-1]["pagination"]["total_count"] is None  # only first pages pay for a count
    _, back = get(owner_client, f"page_size=5&cursor={pages[-1]['pagination']['prev_cursor']}")
    assert ids(back) == expected[5:10]


def test_it_pages_assets_made_in_the_same_instant_by_id(owner_client, owner):
    same = timezone.now()
    made = [make_asset(owner) for _ in range(7)]
    Asset.objects.update(created_at=same)
    seen, cursor = [], ""
    while True:
        _, data = get(owner_client, f"page_size=3&cursor={cursor}")
        seen += ids(data)
        if not data["pagination"]["has_next"]:
            break
        cursor = data["pagination"]["next_cursor"]
    assert seen == sorted((a.id for a in made), reverse=True)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("kind=video", lambda i, a: a.kind == "video"),
        ("source=upload", lambda i, a: a.source == "upload"),
        ("status=failed", lambda i, a: a.processing_status == "failed"),
        ("status=pending&kind=image", lambda i, a: a.processing_status == "pending" and a.kind == "image"),
        ("q=holiday", lambda i, a: i < 6),
        ("q=WORK-1", lambda i, a: i in (10, 11)),
        ("q=red+fox", lambda i, a: i == 7),  # prompts are searched too
        ("favorites=1", lambda i, a: a.is_favorite),
        ("favorites=true&kind=image&source=upload", lambda i, a: a.is_favorite and a.kind == "image" and a.source == "upload"),
        ("favorites=1&status=failed", lambda i, a: a.is_favorite and a.processing_status == "failed"),
        ("favorites=1&q=holiday", lambda i, a: a.is_favorite and i < 6),
    ],
)
def test_it_filters(owner_client, library, query, expected):
    _, data = get(owner_client, query)
    wanted = [a.id for i, a in reversed(list(enumerate(library))) if expected(i, a)]
    assert wanted and ids(data) == wanted
    assert data["pagination"]["total_count"] == len(wanted)


def test_it_filters_by_date_range(owner_client, owner):
    day = datetime.date(2026, 3, 10)
    at = lambda d, h: timezone.make_aware(datetime.datetime.combine(d, datetime.time(h)))  # noqa: E731
    made = {}
    for label, moment in [("before", at(day, 0) - datetime.timedelta(seconds=1)), ("first", at(day, 0)),
                          ("last", at(day + datetime.timedelta(days=1), 23)), ("after", at(day + datetime.timedelta(days=2), 0))]:  # fmt: skip
        made[label] = make_asset(owner)
        Asset.objects.filter(pk=made[label].pk).update(created_at=moment)
    _, data = get(owner_client, "date_from=2026-03-10&date_to=2026-03-11")
    assert ids(data) == [made["last"].id, made["first"].id]


def test_it_finds_an_uploaded_files_unicode_name(owner_client):
    post_files(owner_client, uploaded("фото 🌅.png", files.png()))
    _, data = get(owner_client, "q=фото")
    assert [i["filename"] for i in data["items"]] == ["фото 🌅.png"]


def test_it_finds_an_upload_by_the_prompt_inside_its_file_once_processed(owner_client, owner, django_capture_on_commit_callbacks):
    text = "a giraffe in a top hat\nNegative prompt: blurry\nSteps: 28, Seed: 1234, Model: sdxl"
    _, body = post_files(owner_client, uploaded("IMG_0001.png", files.png_with_parameters(text), "image/png"))
    upload = body["items"][0]["id"]
    Asset.objects.filter(pk=make_asset(owner).pk).update(filename="giraffe.png")  # found by its name all along
    _, before = get(owner_client, "q=giraffe")

    with django_capture_on_commit_callbacks(execute=True):  # the owner's lists are made again after it
        run_job.run(ProcessingJob.objects.get(asset_id=upload, kind="thumbnails").pk)

    _, data = get(owner_client, "q=giraffe")
    assert upload not in ids(before) and upload in ids(data) and len(ids(data)) == 2
    assert ids(get(owner_client, "q=top+hat")[1]) == [upload]
    assert ids(get(owner_client, "q=blurry")[1]) == [], "not by its negative prompt"


@pytest.mark.parametrize(
    "query, field",
    [
        ("cursor=abc", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("kind=audio", "kind"),
        ("source=stolen", "source"),
        ("status=done", "status"),
        ("date_from=2026-13-01", "date_from"),
        ("date_from=2026-02-02&date_to=2026-01-01", "date_to"),
        ("favorites=maybe", "favorites"),
        ("favorites=%3Cscript%3E", "favorites"),
        ("favorites=%00", "favorites"),
    ],
)
def test_it_names_the_bad_field_in_a_json_400(owner_client, library, query, field):
    response, data = get(owner_client, query)
    assert response.status_code == 400
    assert data["error"]["field"] == field and data["error"]["message"]


def test_it_says_how_to_ask_for_the_favourites(owner_client, library):
    response, data = get(owner_client, "favorites=maybe")
    assert response.status_code == 400
    assert data["error"] == {"code": "invalid", "message": "Use 1 for yes or 0 for no.", "field": "favorites"}


def test_it_lists_only_the_callers_favourites(client, owner, other, library):
    theirs = make_asset(other)
    Asset.objects.filter(pk=theirs.pk).update(is_favorite=True)
    Asset.objects.filter(pk=library[4].pk).update(is_hidden=True)  # a favourite hidden: out of the default view
    client.force_login(owner)
    for query, wanted in [("favorites=1", [10, 7, 1]), ("favorites=1&hidden=include", [10, 7, 4, 1]), ("favorites=1&hidden=only", [4])]:
        _, data = get(client, query)
        assert ids(data) == [library[i].id for i in wanted], query
        assert data["pagination"]["total_count"] == len(wanted)
    client.force_login(other)
    _, data = get(client, "favorites=1")
    assert ids(data) == [theirs.id]


def test_it_answers_401_in_json_without_login(client):
    response, data = get(client)
    assert response.status_code == 401 and data["error"]["code"] == "unauthenticated"


def test_it_accepts_a_bearer_token(client, owner, library):
    token = ApiToken.issue(owner)
    response, data = get(client, "page_size=2", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and len(data["items"]) == 2


def test_it_only_lists_the_callers_assets(client, other, library):
    mine = make_asset(other)
    client.force_login(other)
    _, data = get(client)
    assert ids(data) == [mine.id] and data["pagination"]["total_count"] == 1


def test_it_uses_the_same_number_of_queries_for_1_and_50_assets(owner_client, owner, settings, django_assert_num_queries):
    settings.LIST_CACHE = False  # count the queries of building the list, every time
    make_asset(owner)
    # Session user, the page of assets, the total (and on PostgreSQL the planner's estimate).
    with django_assert_num_queries(first_page_queries()):
        get(owner_client)
    for i in range(60):
        make_asset(owner, kind="video" if i % 5 == 0 else "image")
    # On PostgreSQL a kind beside a text is weighed too (i2v/lib/filters.py equal_beside_text()).
    with django_assert_num_queries(first_page_queries() + (connection.vendor == "postgresql")):
        _, data = get(owner_client, "q=out&kind=image")
    assert len(data["items"]) == 49
    with django_assert_num_queries(first_page_queries(estimated=True)):  # the same filters, estimated above
        _, data = get(owner_client)
    assert len(data["items"]) == 50
    with django_assert_num_queries(1):  # a later page skips the total: the page
        get(owner_client, f"cursor={data['pagination']['next_cursor']}")


def test_it_serves_repeats_from_the_cache_until_an_asset_changes(owner_client, library, django_assert_num_queries, django_capture_on_commit_callbacks):
    _, first = get(owner_client)
    with django_assert_num_queries(0):  # nothing: the session and its user are cached too
        _, again = get(owner_client)
    assert again == first
    with django_capture_on_commit_callbacks(execute=True):
        library[-1].processing_status = "failed"
        library[-1].save()  # as the worker does when it gives up
    _, data = get(owner_client)
    assert data["items"][0]["processing_status"] == "failed"


def test_it_answers_a_repeat_from_the_cache_before_building_a_form(owner_client, library, monkeypatch, django_assert_num_queries):
    from library import forms

    _, first = get(owner_client, "kind=image")
    monkeypatch.setattr(forms.LibraryFilterForm, "__init__", lambda *args, **kwargs: pytest.fail("a form was built"))
    with django_assert_num_queries(0):
        _, again = get(owner_client, "kind=image")
    assert again == first and len(first["items"]) == 9


def test_it_shows_a_new_upload_at_once_despite_the_cache(owner_client, library, django_capture_on_commit_callbacks):
    get(owner_client)
    with django_capture_on_commit_callbacks(execute=True):
        _, uploaded_body = post_files(owner_client, uploaded("new.png", files.png()))
    _, data = get(owner_client)
    assert data["items"][0]["id"] == uploaded_body["items"][0]["id"]
    assert data["pagination"]["total_count"] == 13


def test_it_forgets_a_deleted_asset_despite_the_cache(owner_client, library, django_capture_on_commit_callbacks):
    get(owner_client)
    with django_capture_on_commit_callbacks(execute=True):
        library[-1].delete()
    _, data = get(owner_client)
    assert library[-1].id not in ids(data) and data["pagination"]["total_count"] == 11


def numbered_assets(owner, n):
    """n assets named f0.jpg (the newest) to f{n-1}.jpg, a second apart."""
    now = timezone.now()
    Asset.objects.bulk_create(
        Asset(owner=owner, sha256=f"{i:064x}", original=f"originals/{i}.jpg", filename=f"f{i}.jpg", created_at=now - datetime.timedelta(seconds=i))
        for i in range(n)
    )


def test_it_estimates_big_totals_on_postgresql(owner_client, owner):
    if connection.vendor != "postgresql":
        pytest.skip("planner estimates are a PostgreSQL feature")
    numbered_assets(owner, 1500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    _, data = get(owner_client)
    assert data["pagination"]["total_is_estimate"] is True
    assert 1000 < data["pagination"]["total_count"] < 3000
    _, data = get(owner_client, "q=f149")  # small: exact
    assert data["pagination"]["total_count"] == 11 and data["pagination"]["total_is_estimate"] is False


def test_it_gives_a_lower_bound_when_the_estimate_was_far_too_low(owner_client, owner, monkeypatch):
    """The planner puts a word at 1 match: the fetch stops past 1,000 and the total is that
    floor, said to be one (no estimate is left worth giving); the page is still the newest."""
    from i2v.lib import pagination

    if connection.vendor != "postgresql":
        pytest.skip("planner estimates are a PostgreSQL feature")
    numbered_assets(owner, 1200)
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (1, 10.0))
    _, data = get(owner_client, "q=f&page_size=5")
    assert {k: data["pagination"][k] for k in ("total_count", "total_is_estimate", "total_is_lower_bound")} == {
        "total_count": 1001, "total_is_estimate": True, "total_is_lower_bound": True,
    }
    assert [i["filename"] for i in data["items"]] == ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg", "f4.jpg"]
    _, data = get(owner_client, "q=f11")  # within the bound: counted
    assert data["pagination"]["total_count"] == 111 and data["pagination"]["total_is_lower_bound"] is False


@pytest.mark.parametrize("query, found", [("date_to=9999-12-31", 1), ("date_from=9999-12-31", 0), ("date_from=0001-01-01", 1)])
def test_it_takes_dates_at_the_ends_of_the_calendar(owner_client, owner, query, found):
    make_asset(owner)
    response = owner_client.get(f"/api/library/images?{query}")
    assert response.status_code == 200 and len(response.json()["items"]) == found


def test_it_keeps_an_item_per_process_for_what_it_shows_and_makes_it_again_when_that_changes(owner_client, library, settings):
    # The list's assets come with their renditions as stored text; each item is kept for those values.
    from library.models import _kept_list_item

    _kept_list_item.cache_clear()
    first = get(owner_client, "page_size=50")[1]["items"]
    assert first == [a.as_list_item() for a in Asset.objects.for_library().order_by("-created_at", "-id")]  # as decoded
    made = _kept_list_item.cache_info().misses
    assert made == len(library) and get(owner_client, "page_size=50&kind=image")[1]["items"] == [i for i in first if i["kind"] == "image"]
    assert _kept_list_item.cache_info().misses == made  # another list of the same assets: every item kept
    newest = library[-1]
    Asset.objects.filter(pk=newest.pk).update(renditions={**newest.renditions, "300": {**newest.renditions["300"], "w": 301}})
    settings.LIST_CACHE = False
    changed = get(owner_client, "page_size=1")[1]["items"][0]
    assert "301w" in changed["srcset"] and changed != first[0] and _kept_list_item.cache_info().misses == made + 1
    settings.MEDIA_URL = "/elsewhere/"
    assert get(owner_client, "page_size=1")[1]["items"][0]["thumbnail_url"].startswith("/elsewhere/")


def test_it_hands_out_a_copy_of_a_kept_item(owner):
    asset = make_asset(owner)
    item = Asset.objects.for_library_text().get(pk=asset.pk).as_list_item()
    item["filename"] = "changed"
    assert Asset.objects.for_library_text().get(pk=asset.pk).as_list_item()["filename"] == asset.filename
