"""/library/: the thumbnail grid, its filters in the URL, infinite scroll by cursor, designed states."""

import datetime
import re

import pytest
from django.utils import timezone

from conftest import every_first_page_walked, first_page_queries, make_asset, plan_by_index, text_index_plan
from library.models import Asset
from library.tests import files
from library.tests.files import post_files, uploaded
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

HX = {"HTTP_HX_REQUEST": "true"}


def tile_ids(response):
    return [int(i) for i in re.findall(r'<li class="asset[^"]*" id="asset-(\d+)"', response.content.decode())]


def next_url(response):
    match = re.search(r'<li class="more-tiles-row"><a href="([^"]+)"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def walk(client, url):
    """Every tile id of a grid, following the infinite-scroll links to the end."""
    ids, pages = [], 0
    response = client.get(url, **HX)
    while True:
        assert response.status_code == 200
        ids += tile_ids(response)
        pages += 1
        url = next_url(response)
        if not url:
            return ids, pages
        response = client.get(url, **HX)


@pytest.fixture
def assets(owner):
    start = timezone.now() - datetime.timedelta(days=2)
    made = []
    for i in range(25):
        asset = make_asset(owner, kind="video" if i % 5 == 0 else "image")
        Asset.objects.filter(pk=asset.pk).update(
            created_at=start + datetime.timedelta(minutes=i),
            source="upload" if i % 2 else "generated",
            processing_status="failed" if i == 3 else "complete",
        )
        asset.refresh_from_db()
        made.append(asset)
    return made


def test_it_requires_login(client):
    response = client.get("/library/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_renders_the_full_page_with_the_first_tiles(owner_client, assets):
    response = owner_client.get("/library/?page_size=10")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="filters"' in html and 'id="uploader"' in html
    assert 'type="search" name="q" value="" maxlength="200"' in html  # the filter's own limit: typing stops there
    assert 'href="/library/" aria-current="page">Library<' in html
    assert tile_ids(response) == [a.id for a in reversed(assets)][:10]
    assert "25 assets" in html
    assert 'src="/static/js/library.js"' in html
    assert "images up to 50 MB, videos up to 200 MB" in html and f'data-max-bytes="{200 * 1024 * 1024}"' in html


def test_it_returns_only_the_results_to_htmx(owner_client, assets):
    response = owner_client.get("/library/?kind=video", **HX)
    html = response.content.decode()
    assert "<html" not in html and 'id="uploader"' not in html
    assert response["Vary"].count("HX-Request") == 1
    assert set(tile_ids(response)) == {a.id for a in assets if a.kind == "video"}


def test_it_shows_the_300px_rendition_with_its_srcset_size_and_lazy_loading(owner_client, owner):
    asset = make_asset(owner)
    html = owner_client.get("/library/").content.decode()
    r = asset.renditions
    assert f'src="/media/{r["300"]["name"]}"' in html
    assert f'srcset="/media/{r["150"]["name"]} 150w, /media/{r["300"]["name"]} 300w, /media/{r["600"]["name"]} 600w"' in html
    assert 'width="300" height="225" loading="lazy"' in html
    assert f'data-preview="/media/{r["600"]["name"]}"' in html  # hover preview
    # The original only loads when opened, in a new tab.
    assert f'<a class="open" href="/media/{asset.original.name}" target="_blank" rel="noopener"' in html
    assert f'src="/media/{asset.original.name}"' not in html


def test_it_names_each_width_once_in_the_srcset_of_a_small_picture(owner_client, owner):
    asset = make_asset(owner)
    small = {key: {**entry, "w": 64, "h": 48} for key, entry in asset.renditions.items()}  # smaller than 150 px
    Asset.objects.filter(pk=asset.pk).update(renditions=small)
    html = owner_client.get("/library/").content.decode()
    assert f'srcset="/media/{small["150"]["name"]} 64w"' in html
    api = owner_client.get("/api/library/images").json()["items"][0]
    assert api["srcset"] == f"/media/{small['150']['name']} 64w"


def test_it_shows_a_watched_skeleton_while_renditions_are_pending(owner_client, owner):
    pending = make_asset(owner, renditions=False)
    Asset.objects.filter(pk=pending.pk).update(processing_status="pending")
    done = make_asset(owner)
    html = owner_client.get("/library/").content.decode()
    assert (
        f'id="asset-{pending.id}" data-status="pending" data-watch="{pending.id}:pending">'
    ) in html
    assert 'data-watch-url="/library/watch" data-window' in html
    assert '<div class="skeleton-tile" aria-hidden="true"></div>' in html
    assert '<span class="badge s-processing">processing</span>' in html
    assert f'id="asset-{done.id}" data-status="complete" data-preview=' in html
    assert html.count("data-watch=") == 1


def test_it_shows_a_failed_assets_error_and_a_retry_button(owner_client, owner):
    failed = make_asset(owner, renditions=False)
    Asset.objects.filter(pk=failed.pk).update(processing_status="failed", last_error="cannot identify image file <evil>")
    html = owner_client.get("/library/").content.decode()
    assert "Processing failed" in html
    assert "cannot identify image file &lt;evil&gt;" in html and "<evil>" not in html
    assert "Retry</button>" in html and "data-watch=" not in html


def test_it_shows_a_remote_asset_not_fetched_yet_with_a_placeholder_that_does_not_poll(owner_client, owner):
    remote = make_asset(owner, kind="video", renditions=False)  # imported from i2v as a URL
    Asset.objects.filter(pk=remote.pk).update(
        original="", sha256=None, remote_url="https://cdn.example/v/1.mp4", processing_status="remote"
    )
    html = owner_client.get("/library/").content.decode()
    tile = html[html.index(f'id="asset-{remote.id}"') :].split("</li>")[0]
    assert 'data-status="remote"' in tile and "data-watch=" not in tile
    assert '<div class="tile-placeholder remote"' in tile and '<span class="badge s-remote">not fetched yet</span>' in tile
    assert 'class="open"' not in tile  # no original to open yet
    assert '<option value="remote"' in owner_client.get("/library/").content.decode()
    assert tile_ids(owner_client.get("/library/?status=remote", **HX)) == [remote.id]


def test_it_falls_back_to_the_original_for_a_legacy_asset_without_renditions(owner_client, owner):
    legacy = make_asset(owner, renditions=False)  # complete, but made before renditions existed
    html = owner_client.get("/library/").content.decode()
    assert f'<img class="fallback" src="/media/{legacy.original.name}" width="1024" height="768" loading="lazy"' in html


def test_it_escapes_file_names(owner_client, owner):
    asset = make_asset(owner)
    Asset.objects.filter(pk=asset.pk).update(filename='<img src=x onerror=alert(1)>.png')
    html = owner_client.get("/library/").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html


def test_it_scrolls_through_every_tile_without_gaps_or_duplicates(owner_client, assets):
    ids, pages = walk(owner_client, "/library/?page_size=4")
    assert pages == 7
    assert ids == [a.id for a in reversed(assets)]


def test_it_keeps_filters_in_the_load_more_links(owner_client, assets):
    first = owner_client.get("/library/?page_size=2&source=upload", **HX)
    assert "source=upload" in next_url(first)
    ids, _ = walk(owner_client, "/library/?page_size=2&source=upload")
    assert sorted(ids) == sorted(a.id for a in assets if a.source == "upload")


def test_it_shows_skeleton_tiles_while_the_next_page_loads(owner_client, assets):
    html = owner_client.get("/library/?page_size=5", **HX).content.decode()
    assert 'hx-trigger="revealed, click"' in html and '<div class="skeleton-tiles" aria-hidden="true">' in html
    assert ">Load more</a>" in html  # the link works without JavaScript too


@pytest.mark.parametrize(
    "query, expected",
    [
        ("kind=video", lambda a: a.kind == "video"),
        ("source=generated", lambda a: a.source == "generated"),
        ("status=failed", lambda a: a.processing_status == "failed"),
        ("q=out", lambda a: True),
    ],
)
def test_it_filters(owner_client, assets, query, expected):
    ids, _ = walk(owner_client, f"/library/?{query}")
    assert ids and sorted(ids) == sorted(a.id for a in assets if expected(a))


def test_it_finds_an_upload_by_the_prompt_inside_its_file_once_processed(owner_client, owner, django_capture_on_commit_callbacks):
    text = "a giraffe in a top hat\nNegative prompt: blurry\nSteps: 28, Seed: 1234, Model: sdxl"
    _, body = post_files(owner_client, uploaded("IMG_0001.png", files.png_with_parameters(text), "image/png"))
    upload = body["items"][0]["id"]
    before, _ = walk(owner_client, "/library/?q=giraffe")

    with django_capture_on_commit_callbacks(execute=True):  # the owner's lists are made again after it
        run_job.run(ProcessingJob.objects.get(asset_id=upload, kind="thumbnails").pk)

    assert before == [] and walk(owner_client, "/library/?q=giraffe")[0] == [upload]
    assert walk(owner_client, "/library/?q=TOP+HAT&source=upload")[0] == [upload]
    assert walk(owner_client, "/library/?q=blurry")[0] == [], "not by its negative prompt"


def test_it_never_shows_another_users_assets(owner_client, other, assets):
    theirs = make_asset(other)
    ids, _ = walk(owner_client, "/library/")
    assert theirs.id not in ids and len(ids) == 25


@pytest.fixture
def favourites(owner, other, assets):
    """Every third of `assets` starred, one of those hidden too, and one not starred hidden; the
    six oldest made ten days earlier; a fox in the prompts of the even ones; and another user's
    favourite. Returns that one."""
    Asset.objects.filter(pk__in=[a.pk for a in assets[::3]]).update(is_favorite=True)
    Asset.objects.filter(pk__in=[assets[9].pk, assets[10].pk]).update(is_hidden=True)
    Asset.objects.filter(pk__in=[a.pk for a in assets[::2]]).update(prompt="a red fox")
    for asset in assets[:6]:
        Asset.objects.filter(pk=asset.pk).update(created_at=asset.created_at - datetime.timedelta(days=10))
    for asset in assets:
        asset.refresh_from_db()
    theirs = make_asset(other)
    Asset.objects.filter(pk=theirs.pk).update(is_favorite=True, prompt="a red fox")
    return theirs


RECENT = (timezone.localdate() - datetime.timedelta(days=5)).isoformat()


def recent(asset):
    return asset.created_at > timezone.now() - datetime.timedelta(days=5)  # the fixture's: two days old or twelve


@pytest.mark.parametrize(
    "query, expected",
    [
        ("favorites=1", lambda a: a.is_favorite and not a.is_hidden),
        ("favorites=true", lambda a: a.is_favorite and not a.is_hidden),
        ("favorites=1&kind=video", lambda a: a.is_favorite and not a.is_hidden and a.kind == "video"),
        ("favorites=1&source=upload", lambda a: a.is_favorite and not a.is_hidden and a.source == "upload"),
        ("favorites=1&status=failed", lambda a: a.is_favorite and a.processing_status == "failed"),
        ("favorites=1&q=fox", lambda a: a.is_favorite and not a.is_hidden and "fox" in a.prompt),
        (f"favorites=1&date_from={RECENT}", lambda a: a.is_favorite and not a.is_hidden and recent(a)),
        ("favorites=1&hidden=include", lambda a: a.is_favorite),
        ("favorites=1&hidden=only", lambda a: a.is_favorite and a.is_hidden),
        (
            f"favorites=on&kind=image&source=generated&status=complete&q=fox&hidden=include&date_from={RECENT}",
            lambda a: a.is_favorite and a.kind == "image" and a.source == "generated" and "fox" in a.prompt and recent(a),
        ),
    ],
)
def test_it_lists_the_owners_favourites_with_any_other_filter(owner_client, assets, favourites, query, expected):
    ids, _ = walk(owner_client, f"/library/?{query}&page_size=2")
    assert ids and ids == [a.id for a in reversed(assets) if expected(a)]
    assert favourites.id not in ids


def test_it_keeps_the_favourites_in_the_load_more_links_and_ticks_its_box(owner_client, assets, favourites):
    html = owner_client.get("/library/?favorites=true&page_size=2").content.decode()
    assert '<input type="checkbox" name="favorites" value="1" checked> Favourites' in html
    assert 'data-favorites-filter="1"' in html  # the viewer takes a tile unstarred there out of the grid
    assert "favorites=1" in next_url(owner_client.get("/library/?favorites=true&page_size=2", **HX))
    html = owner_client.get("/library/").content.decode()
    assert '<input type="checkbox" name="favorites" value="1"> Favourites' in html and 'data-favorites-filter=""' in html


@pytest.mark.parametrize("value", ["maybe", "<script>alert(1)</script>", "%00", "1%00", "2", "yes"])
def test_it_explains_a_bad_favourites_flag_with_a_400(owner_client, assets, value):
    for extra in ({}, HX):
        response = owner_client.get(f"/library/?favorites={value}", **extra)
        html = response.content.decode()
        assert response.status_code == 400
        assert "<strong>Favourites</strong>: Use 1 for yes or 0 for no." in html
        assert "<script>alert" not in html


def test_it_reads_the_last_of_two_favourites_flags(owner_client, assets, favourites):
    for query, starred in [("favorites=1&favorites=0", False), ("favorites=0&favorites=1", True)]:
        ids, _ = walk(owner_client, f"/library/?{query}")
        assert ids == [a.id for a in reversed(assets) if not a.is_hidden and (a.is_favorite or not starred)], query


def test_it_counts_the_same_queries_for_the_favourites(owner_client, owner, settings, django_assert_num_queries):
    settings.LIST_CACHE = False
    starred = make_asset(owner)
    Asset.objects.filter(pk=starred.pk).update(is_favorite=True)
    make_asset(owner)
    with django_assert_num_queries(first_page_queries()):  # the page of tiles, its total (PostgreSQL: the estimate)
        response = owner_client.get("/library/?favorites=1")
    assert tile_ids(response) == [starred.id]
    for i in range(60):
        Asset.objects.filter(pk=make_asset(owner, kind="video" if i % 2 else "image").pk).update(is_favorite=i % 4 != 3)
    with django_assert_num_queries(first_page_queries(estimated=True)):  # the same filters, estimated above
        response = owner_client.get("/library/?favorites=1&page_size=20", **HX)
    assert len(tile_ids(response)) == 20 and Asset.objects.filter(pk__in=tile_ids(response), is_favorite=False).count() == 0
    with django_assert_num_queries(1):  # infinite scroll: the page
        owner_client.get(next_url(response), **HX)


@pytest.mark.parametrize("query", ["kind=audio", "status=x", "page_size=0", "date_from=yesterday", "cursor=forged", "q=" + "x" * 201])
def test_it_explains_bad_filters_with_a_400(owner_client, assets, query):
    response = owner_client.get(f"/library/?{query}")
    assert response.status_code == 400
    assert "These filters can't be used" in response.content.decode()


def test_it_designs_its_empty_states(owner_client, owner):
    html = owner_client.get("/library/").content.decode()
    assert "Your library is empty" in html and 'id="grid"' in html  # uploads need the grid
    make_asset(owner, kind="image")
    html = owner_client.get("/library/?kind=video").content.decode()
    assert "No assets match these filters" in html


def test_it_uses_the_same_number_of_queries_for_1_and_50_assets(owner_client, owner, settings, django_assert_num_queries):
    settings.LIST_CACHE = False
    make_asset(owner)
    # Session user, the page of tiles, the total (and on PostgreSQL the planner's estimate).
    with django_assert_num_queries(first_page_queries()):
        owner_client.get("/library/")
    for i in range(59):
        make_asset(owner, kind="video" if i % 2 else "image", renditions=i % 3 != 0)
    with django_assert_num_queries(first_page_queries(estimated=True)):  # the same filters, estimated above
        response = owner_client.get("/library/?page_size=50")
    assert len(tile_ids(response)) == 50
    with django_assert_num_queries(1):  # infinite scroll: the page
        owner_client.get(next_url(response), **HX)


def test_it_serves_a_repeat_request_from_the_cache(owner_client, owner, django_assert_num_queries, django_capture_on_commit_callbacks):
    asset = make_asset(owner)
    first = owner_client.get("/library/", **HX)
    with django_assert_num_queries(0):  # nothing: the session and its user are cached too
        again = owner_client.get("/library/", **HX)
    assert again.content == first.content
    with django_capture_on_commit_callbacks(execute=True):
        asset.filename = "renamed.jpg"
        asset.save()
    assert "renamed.jpg" in owner_client.get("/library/", **HX).content.decode()


def test_it_shows_the_cached_fragment_in_the_full_page(owner_client, owner, django_assert_num_queries):
    """The fragment is cached as the bytes a response sends; the full page (a reload, a link)
    takes the same fragment from the cache, non-ASCII text and escaping intact."""
    asset = make_asset(owner)
    Asset.objects.filter(pk=asset.pk).update(filename="café <b>ñ</b>.jpg")
    fragment = owner_client.get("/library/", **HX).content.decode()
    assert "café &lt;b&gt;ñ&lt;/b&gt;.jpg" in fragment
    page = owner_client.get("/library/").content.decode()
    assert f'<div id="results" class="results" aria-live="polite">{fragment}</div>' in page


def test_it_answers_a_repeat_fragment_from_the_cache_before_building_a_form(owner_client, owner, monkeypatch, django_assert_num_queries):
    """A repeat of the grid's fragment is found by the request's own parameters: no form (its
    fields are deep-copied for every instance), no template, no query."""
    from library import forms

    make_asset(owner)
    first = owner_client.get("/library/?kind=&status=", **HX)
    monkeypatch.setattr(forms.LibraryFilterForm, "__init__", lambda *args, **kwargs: pytest.fail("a form was built"))
    with django_assert_num_queries(0):
        again = owner_client.get("/library/?kind=&status=", **HX)
    assert again.content == first.content and 'class="asset tile' in again.content.decode()


def test_it_keeps_a_page_of_60_tiles_small(owner_client, owner):
    for _ in range(61):
        make_asset(owner)
    response = owner_client.get("/library/", **HX)
    assert len(tile_ids(response)) == 60
    assert len(response.content) / 60 < 1400, len(response.content)


@pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=9999-12-31", "date_from=0001-01-01&date_to=9999-12-31"])
def test_it_takes_dates_at_the_ends_of_the_calendar(owner_client, owner, query):
    asset = make_asset(owner)
    for extra in ({}, HX):
        response = owner_client.get(f"/library/?{query}", **extra)
        assert response.status_code == 200
        assert (f'id="asset-{asset.id}"' in response.content.decode()) == (not query.startswith("date_from=9999"))


@pytest.mark.parametrize(
    "query, per_cost",
    [("q=sunset", 1), ("q=a+sunset", 3), ("q=++sunset++", 1), ("q=a+sunset&date_from=2025-06-01", None), ("kind=video", None)],
)
def test_it_lets_a_phrase_walk_three_rows_a_unit_of_its_fetchs_cost(owner_client, monkeypatch, settings, query, per_cost):
    """A walk for a word reads no more rows than the planner's cost of the fetch it stands in for;
    for a text of several words, three times as many (its fetch rechecks every row holding the
    words anywhere, which that cost leaves out); with a date range, or no text, it has no such bound."""
    import library.models
    from i2v.lib import pagination

    settings.LIST_CACHE = False
    bounds = []

    def list_page(*args, **kwargs):
        bounds.append(kwargs.get("walk_rows_per_cost"))
        return pagination.list_page(*args, **kwargs)

    monkeypatch.setattr(library.models, "list_page", list_page)
    response = owner_client.get(f"/library/?{query}", **HX)
    assert response.status_code == 200
    assert bounds == [per_cost]


@pytest.mark.parametrize("query, fetched", [("favorites=1&q=sunset", True), ("q=sunset", False), ("favorites=1", False)])
def test_it_fetches_a_word_among_the_favourites_however_the_planner_prices_it(owner_client, monkeypatch, settings, query, fetched):
    """A word among the favourites is fetched from their own text index, which reads their rows
    alone: a walk through them reads a row for each it passes, so a fetch priced high is no
    reason to walk (first_page(costly_above=)); past a thousand matches it walks, as any list."""
    import math

    import library.models
    from i2v.lib import pagination

    settings.LIST_CACHE = False
    bounds = []

    def list_page(*args, **kwargs):
        bounds.append(kwargs.get("costly_above"))
        return pagination.list_page(*args, **kwargs)

    monkeypatch.setattr(library.models, "list_page", list_page)
    response = owner_client.get(f"/library/?{query}", **HX)
    assert response.status_code == 200
    assert bounds == [math.inf if fetched else None]


def test_it_walks_through_hidden_assets_too_when_they_are_asked_for(owner_client, owner, monkeypatch):
    """A first page found by a bounded walk (here forced: exact totals only up to 1) reads the
    rows the list shows: with hidden=include the newest, hidden ones are on it."""
    import functools

    from django.db import connection

    import library.models
    from i2v.lib import pagination

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk is PostgreSQL's")
    start = timezone.now()
    made = []
    for i in range(40):
        asset = make_asset(owner, kind="video")
        Asset.objects.filter(pk=asset.pk).update(created_at=start + datetime.timedelta(seconds=i), is_hidden=i % 5 == 4)
        made.append(asset.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    monkeypatch.setattr(library.models, "list_page", functools.partial(pagination.list_page, exact_up_to=1, walk_above=1000))
    for hidden, wanted in [("include", made[::-1][:3]), ("only", made[4::5][::-1][:3]), ("", [made[38], made[37], made[36]])]:
        response = owner_client.get(f"/library/?kind=video&hidden={hidden}&page_size=3", **HX)
        assert tile_ids(response)[:3] == wanted, hidden


@pytest.mark.parametrize(
    "query, tested",
    [
        ("kind=video&source=upload&status=failed&q=sunset", True),
        ("source=upload&status=failed&q=sunset", True),
        ("kind=video&source=upload&q=sunset", False),  # the pair's own index leads: nothing more to test
        ("kind=video&status=failed", False),  # the index's entries hold all it tests
        ("kind=video&q=sunset", False),  # nothing more for the entries to test
    ],
)
def test_it_finds_a_walked_first_page_whichever_filters_the_index_tests(owner_client, owner, settings, query, tested):
    """A first page found by a bounded walk (forced, through every row: each query has a page
    and one more of matches) is the list's first page, whether the walk tests kind, source
    and status on the index's entries before reading the rows that pass, or reads every row."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk is PostgreSQL's")
    settings.LIST_CACHE = False
    start = timezone.now()
    for i in range(48):
        asset = make_asset(owner, kind="video" if i % 2 else "image")
        Asset.objects.filter(pk=asset.pk).update(
            created_at=start + datetime.timedelta(seconds=i), source="upload" if i % 3 else "generated",
            processing_status="failed" if i % 4 != 1 else "complete", prompt="a sunset" if i % 5 else "a dawn",
        )  # fmt: skip
    expected = tile_ids(owner_client.get(f"/library/?{query}&page_size=3", **HX))
    assert len(expected) == 3
    with every_first_page_walked() as captured:
        walked = tile_ids(owner_client.get(f"/library/?{query}&page_size=3", **HX))
    statements = " ".join(q["sql"] for q in captured.captured_queries)
    assert "WITH walk" in statements
    assert ("CROSS JOIN LATERAL" in statements) == tested
    assert walked == expected


def test_it_finds_a_joined_phrases_next_pages_as_a_first_page_is_found(owner_client, owner, settings, monkeypatch):
    """A phrase looked up where its words meet (i2v/lib/filters.py) holds a condition the planner
    takes for independent of the phrase, which implies it, and it plans the phrase's statement for
    a fraction of its rows: one keyset query after a cursor then fetched and sorted every row the
    joined index finds (123 ms of SQL for "neon alley, polaroid" at a million assets). Its cursor's
    pages are found as a first page is (list_page()); a word's are one keyset query. Both scroll
    through every match, in order."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from i2v.lib import filters

    if connection.vendor != "postgresql":
        pytest.skip("the joined text's index is PostgreSQL's")
    settings.LIST_CACHE = False
    start = timezone.now()
    made = []
    for i in range(12):
        asset = make_asset(owner)
        prompt = "a neon portrait" if i % 2 else "a portrait, neon light"  # one name: the planner's common values hold them
        Asset.objects.filter(pk=asset.pk).update(created_at=start + datetime.timedelta(seconds=i), filename="p", prompt=prompt)
        made.append(asset.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    monkeypatch.setattr(filters, "RARE_WORD", 8)  # "neon" and "portrait" common (12), "neonportrait" rare (6)
    for q, expected, joined in [("neon+portrait", made[1::2][::-1], True), ("neon", made[::-1], False)]:
        first = owner_client.get(f"/library/?q={q}&page_size=2", **HX)
        with CaptureQueriesContext(connection) as captured:
            ids, _ = walk(owner_client, next_url(first))
        assert tile_ids(first) + ids == expected, q
        assert any(query["sql"].startswith("WITH ") for query in captured.captured_queries) is joined, q


def test_it_reads_a_kind_and_a_source_from_their_own_index(owner_client, owner):
    """A kind with a source is a range of asset_kind_source_list (library migration 0014), in the
    list's order, so a pair that matches nothing is found empty at once: "kind=video&source=upload"
    at a million assets intersected the two values' GIN entries, or walked every video's entry."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    for i in range(30):
        # Uploads and videos each common, none both: either one's own index reads many entries for
        # none, the pair's none at all (so the planner's choice holds whatever it has seen before).
        video = bool(i % 3)
        Asset.objects.filter(pk=make_asset(owner, kind="video" if video else "image").pk).update(source="generated" if video else "upload")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    with CaptureQueriesContext(connection) as captured:
        response = owner_client.get("/library/?kind=video&source=upload", **HX)
    assert response.status_code == 200 and tile_ids(response) == []
    keys = next(q["sql"] for q in captured.captured_queries if not q["sql"].startswith("EXPLAIN") and "library_asset" in q["sql"])
    plan = plan_by_index(keys)
    assert "using asset_kind_source_list" in plan, plan


def test_it_reads_a_kind_and_a_status_from_their_own_index(owner_client, owner):
    """A kind with a status other than complete is a range of asset_kind_status_list (library migration
    0026), in the list's order: "kind=video&status=failed" at a million assets walked the videos' entries
    testing each one's status, 3,018 for a page of 61."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    made = []
    for i in range(30):
        # Videos and failed assets each common, few both.
        video, failed = bool(i % 3), i % 3 != 1
        asset = make_asset(owner, kind="video" if video else "image")
        Asset.objects.filter(pk=asset.pk).update(processing_status="failed" if failed else "complete")
        made.append((asset.pk, video and failed))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    with CaptureQueriesContext(connection) as captured:
        response = owner_client.get("/library/?kind=video&status=failed", **HX)
    assert response.status_code == 200 and tile_ids(response) == [pk for pk, both in reversed(made) if both]
    keys = next(q["sql"] for q in captured.captured_queries if not q["sql"].startswith("EXPLAIN") and "library_asset" in q["sql"])
    plan = plan_by_index(keys)
    assert "using asset_kind_status_list" in plan, plan


@pytest.mark.parametrize(
    "query, index",
    [
        # Any of them: in a test's few rows, a whole index read and sorted costs as little.
        ("favorites=1", "asset_favorite_"),
        ("favorites=1&source=upload&hidden=include", "asset_favorite_"),
        ("favorites=1&kind=video", "asset_favorite_kind_list "),
        ("favorites=1&status=failed&source=upload", "asset_favorite_status_list "),
    ],
)
def test_it_reads_the_favourites_from_their_own_index(owner_client, owner, query, index):
    """The favourites, few, are partial indexes of their own in the list's order (library
    migration 0021) holding the other filters' columns, the favourites of a kind or a status a
    range of their own: without them they were found by walking the owner's whole list, reading
    each row to test is_favorite."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    for i in range(40):
        asset = make_asset(owner, kind="video" if i % 2 else "image")
        Asset.objects.filter(pk=asset.pk).update(
            is_favorite=i % 10 in (1, 2), source="upload" if i % 3 else "generated", is_hidden=i % 7 == 0,
            processing_status="failed" if i % 4 == 1 else "complete",
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    with CaptureQueriesContext(connection) as captured:
        response = owner_client.get(f"/library/?{query}", **HX)
    assert response.status_code == 200 and tile_ids(response)
    assert Asset.objects.filter(pk__in=tile_ids(response), is_favorite=False).count() == 0
    keys = next(q["sql"] for q in captured.captured_queries if not q["sql"].startswith("EXPLAIN") and "library_asset" in q["sql"])
    plan = plan_by_index(keys)
    assert f"using {index}" in plan, plan


@pytest.mark.parametrize(
    "query, tested",
    [
        ("favorites=1", False),
        ("favorites=1&kind=video&source=upload&status=failed", False),  # on the index's entries, all of them
        ("favorites=1&kind=video&q=sunset", True),  # the kind on the entries, then the rows that pass for the word
        ("favorites=1&hidden=include&status=failed", False),
        ("favorites=1&hidden=only", False),
    ],
)
def test_it_walks_the_favourites_testing_the_other_filters_on_their_entries(owner_client, owner, settings, query, tested):
    """A first page found by a bounded walk (forced) of the favourites: the others of kind, source,
    status and hidden are tested on asset_favorite_list's entries, the word on the rows that pass."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk is PostgreSQL's")
    settings.LIST_CACHE = False
    start = timezone.now()
    for i in range(96):
        asset = make_asset(owner, kind="video" if i % 2 else "image")
        Asset.objects.filter(pk=asset.pk).update(
            created_at=start + datetime.timedelta(seconds=i), source="upload" if i % 3 else "generated",
            processing_status="failed" if i % 4 != 1 else "complete", prompt="a sunset" if i % 5 else "a dawn",
            is_favorite=i % 3 != 2, is_hidden=i % 8 == 3,  # the newest is no favourite
        )  # fmt: skip
    expected = tile_ids(owner_client.get(f"/library/?{query}&page_size=3", **HX))
    assert len(expected) == 3 and Asset.objects.filter(pk__in=expected, is_favorite=True).count() == 3
    with every_first_page_walked() as captured:
        walked = tile_ids(owner_client.get(f"/library/?{query}&page_size=3", **HX))
    statements = " ".join(q["sql"] for q in captured.captured_queries)
    assert "WITH walk" in statements and "is_favorite" in statements
    assert ("CROSS JOIN LATERAL" in statements) == tested
    assert walked == expected


@pytest.mark.parametrize("filters", ["status=failed", "kind=video"])
def test_it_searches_a_rare_status_or_kind_in_its_own_text_index(owner_client, owner, filters):
    """A word with a status other than complete, or with videos, is read from that value's own
    trigram index (library migration 0015): in the text index, the word's entries span every
    asset whatever the filter ("status=failed&q=sailboat" 7.5 ms of SQL at a million assets)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    column, value = filters.split("=")
    field = {"status": "processing_status", "kind": "kind"}[column]
    expected = []
    for i in range(40):
        asset = make_asset(owner)
        worded, valued = i % 4 == 0, i % 8 == 0 or i % 5 == 0  # each also without the other
        Asset.objects.filter(pk=asset.pk).update(
            **({"filename": f"sailboat-{i}.jpg"} if worded else {}), **({field: value} if valued else {})
        )
        if worded and valued:
            expected.append(asset.pk)
    response, plan = text_index_plan(owner_client, f"/library/?{filters}&q=sailboat", "library_asset")
    assert response.status_code == 200 and sorted(tile_ids(response)) == sorted(expected)
    assert f"on asset_search_{value}" in plan, plan


def test_it_searches_the_favourites_in_their_own_text_index(owner_client, owner):
    """A word among the favourites is read from their own trigram index (library migration 0022):
    they have no column in the text index, whose entries of the word span every asset
    ("source=upload&q=sailboat&favorites=1" 17 ms of SQL at a million assets, 0.7 so)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    expected = []
    for i in range(40):
        asset = make_asset(owner)
        worded, starred = i % 4 == 0, i % 8 == 0 or i % 5 == 0  # each also without the other
        Asset.objects.filter(pk=asset.pk).update(**({"filename": f"sailboat-{i}.jpg"} if worded else {}), is_favorite=starred)
        if worded and starred:
            expected.append(asset.pk)
    response, plan = text_index_plan(owner_client, "/library/?favorites=1&q=sailboat", "library_asset")
    assert response.status_code == 200 and sorted(tile_ids(response)) == sorted(expected)
    assert "on asset_search_favorite" in plan, plan
