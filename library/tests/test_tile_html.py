"""library/tile.py: the Library tile written in Python must say what the template said, escaped the same way."""

import pytest
from django.template import Context, Template
from django.template.defaultfilters import truncatechars

from conftest import make_asset
from library.models import Asset
from library.tile import _tile, tile_html

HOSTILE = "<script>alert(\"x\")</script> & 'q'"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;"


def loaded(asset, **changes):
    Asset.objects.filter(pk=asset.pk).update(**changes)
    return Asset.objects.filter(pk=asset.pk).for_library().get()


def test_it_escapes_every_text_a_person_or_a_file_wrote(owner):
    a = loaded(make_asset(owner), filename=HOSTILE, processing_status="failed", last_error=HOSTILE, thumbhash=HOSTILE)
    html = tile_html(a)
    assert "<script>" not in html and "'q'" not in html and '"x"' not in html
    # the checkbox's, ↗'s and ⤓'s labels, the image's alt, the name, the thumbhash, the error's title and text
    assert html.count(ESCAPED) == 8


def test_it_shows_a_rendition_with_its_srcset_and_placeholder(owner):
    a = loaded(make_asset(owner), thumbhash="abc=")
    html = tile_html(a)
    small, large = a.rendition_300, a.rendition_600
    assert f'<img src="{small["url"]}" srcset="{a.srcset}" sizes="(max-width: 600px) 50vw, 200px" width="300" height="225"' in html
    assert 'data-thumbhash="abc="' in html and f'data-preview="{large["url"]}"' in html
    assert f'data-viewer-item="{a.id}" data-kind="image">' in html
    assert f'<a class="download" href="/downloads/assets/{a.id}" title="Download" aria-label="Download {a.filename}">⤓</a>' in html


def test_it_escapes_renditions_names_and_sizes_that_are_not_what_processing_writes(owner):
    # Processing writes names it made and integer sizes; a row edited by hand is still escaped, never markup.
    hostile = {"name": 'x" onerror="alert(1)', "w": '1" onload="x', "h": "<b>"}
    a = loaded(make_asset(owner), renditions={"150": hostile, "300": hostile, "600": hostile})
    html = tile_html(a)
    assert 'onerror="' not in html and 'onload="' not in html and "<b>" not in html
    assert 'width="1&quot; onload=&quot;x" height="&lt;b&gt;"' in html
    assert html.count("x&quot; onerror=&quot;alert(1)") == 3  # src, the srcset (one width, so one entry), data-preview


def test_it_shows_the_original_whether_or_not_its_file_was_made(owner):
    a = loaded(make_asset(owner, renditions=False))
    url = a.original_url
    assert a.original.name in url and a.original_url == url  # after the FieldFile exists, the same
    assert Asset.objects.filter(pk=a.pk).only("id").get().original_url == url  # deferred: read as Django reads it
    assert loaded(a, original="").original_url is None


@pytest.mark.parametrize(
    "status, shown",
    [
        ("pending", '<div class="skeleton-tile" aria-hidden="true"></div><span class="badge s-processing">processing</span>'),
        ("processing", '<div class="skeleton-tile" aria-hidden="true"></div><span class="badge s-processing">processing</span>'),
        ("remote", '<div class="tile-placeholder remote" title="Imported from i2v; it will be fetched in the background">◻</div><span class="badge s-remote">not fetched yet</span>'),
        ("failed", '<div class="tile-placeholder" aria-hidden="true">◻</div><div class="tile-error" role="alert">'),
    ],
)
def test_it_stands_in_for_a_missing_rendition_by_status(owner, status, shown):
    a = loaded(make_asset(owner, renditions=False), processing_status=status)
    html = tile_html(a)
    assert shown in html
    assert ("data-watch" in html) == (status in Asset.PENDING)


def test_it_shows_a_legacy_images_original_scaled(owner):
    a = loaded(make_asset(owner, renditions=False))
    assert f'<img class="fallback" src="{a.original_url}" width="1024" height="768" loading="lazy" decoding="async" alt="{a.filename}">' in tile_html(a)


@pytest.mark.parametrize(
    "error", ["", "short", "x" * 119, "x" * 120, "x" * 121, "é" * 130, "a\u0301" * 100, "a\u0301" * 10, "a\u0301" * 120, "e\u0301" * 121, "\u0301" * 130]
)
def test_it_truncates_an_error_as_truncatechars_120_does(owner, error):
    a = loaded(make_asset(owner), processing_status="failed", last_error=error)
    shown = truncatechars(error or "No error was recorded.", 120)
    assert f">{shown}</small>" in tile_html(a)
    assert f'hx-post="/library/{a.id}/retry"' in tile_html(a)


def test_it_marks_videos_favourites_hidden_finished_and_out_of_band_tiles(owner):
    a = loaded(make_asset(owner, kind="video"), is_favorite=True, is_hidden=True)
    assert f'data-viewer-item="{a.id}" data-kind="video" data-favorite data-hidden>' in tile_html(a)
    assert '<span class="play" aria-hidden="true">▶</span>' in tile_html(a)
    assert 'data-hidden hx-swap-oob="outerHTML">' in tile_html(a, oob=True)
    assert "fade" not in tile_html(a) and '<span class="badge s-completed fade">complete</span>' in tile_html(a, just_finished=True)


def test_it_offers_no_viewer_or_download_without_an_original(owner):
    a = loaded(make_asset(owner), original="")
    html = tile_html(a)
    assert "data-viewer-item" not in html and 'class="open"' not in html and 'class="download"' not in html
    assert html.endswith(f'<span class="name">{a.filename}</span></li>')


def test_it_writes_a_list_of_tiles_as_one_tag_each_would(owner):
    assets = [loaded(make_asset(owner)), loaded(make_asset(owner, kind="video"), processing_status="pending", filename=HOSTILE)]
    one_by_one = Template("{% load library_tiles %}{% for a in assets %}{% asset_tile a oob=oob just_finished=True %}{% endfor %}")
    at_once = Template("{% load library_tiles %}{% asset_tiles assets oob=oob just_finished=True %}")
    for oob in (False, True):
        context = Context({"assets": assets, "oob": oob})
        html = at_once.render(context)
        assert html == one_by_one.render(context) == "".join(tile_html(a, oob=oob, just_finished=True) for a in assets)
        assert html.count('<li class="asset tile') == 2 and ESCAPED in html and "<script>" not in html
    assert at_once.render(Context({"assets": [], "oob": False})) == ""


def test_it_makes_a_tile_once_for_what_it_shows(owner):
    a = loaded(make_asset(owner))
    first = tile_html(a)
    made = _tile.cache_info().misses
    assert tile_html(loaded(a)) is first and tile_html(a, oob=True) is not first
    assert _tile.cache_info().misses == made + 1  # the same asset read again: kept; out of band: made


@pytest.mark.parametrize(
    "changes",
    [
        {"processing_status": "failed"}, {"processing_status": "pending"}, {"kind": "video"}, {"filename": "other.jpg"},
        {"original": ""}, {"original": "u/1/o/aa/other.jpg"}, {"thumbhash": "xyz="}, {"last_error": "one"},
        {"is_favorite": True}, {"is_hidden": True}, {"renditions": {}}, {"width": 10, "renditions": {}},
        {"height": 10, "renditions": {}},
    ],
)  # fmt: skip
def test_it_makes_a_tile_again_when_what_it_shows_changes(owner, changes):
    a = loaded(make_asset(owner), processing_status="failed" if "last_error" in changes else "complete")
    before = tile_html(a)
    changed = tile_html(loaded(a, **changes))
    _tile.cache_clear()
    assert changed != before and changed == tile_html(loaded(a))  # as made afresh


def test_it_makes_a_tile_again_when_a_rendition_or_the_media_url_changes(owner, settings):
    a = loaded(make_asset(owner))
    before = tile_html(a)
    for key, field, value in (("300", "name", "u/1/r/aa/new.jpg"), ("600", "w", 601), ("300", "h", 99)):
        renditions = {**a.renditions, key: {**a.renditions[key], field: value}}
        changed = tile_html(loaded(a, renditions=renditions))
        assert changed != before and str(value) in changed
    settings.MEDIA_URL = "/elsewhere/"
    assert tile_html(loaded(a)).count('"/elsewhere/') == 4  # src, data-preview, ↗; srcset's first


def test_it_shows_renditions_sizes_of_any_json_a_row_holds(owner):
    # Processing writes integers; a list or an object edited into a row is shown as text, never a 500.
    odd = {"name": "u/1/r/aa/x.jpg", "w": [1, "<b>"], "h": {"a": 1}}
    html = tile_html(loaded(make_asset(owner), renditions={"150": odd, "300": odd, "600": odd}))
    assert "width=\"[1, &#x27;&lt;b&gt;&#x27;]\" height=\"{&#x27;a&#x27;: 1}\"" in html


@pytest.mark.parametrize("size, shown", [(300, "300"), (300.0, "300.0"), (True, "True"), ("300", "300")])
def test_it_keeps_a_tile_for_sizes_that_are_equal_but_shown_apart(owner, size, shown):
    # 300, 300.0 and true are equal keys to Python; the tile shows each its own way.
    a = loaded(make_asset(owner))
    for other in (300, 300.0, True):  # each one's tile made, and kept, first
        tile_html(loaded(a, renditions={**a.renditions, "300": {**a.renditions["300"], "w": other}}))
    html = tile_html(loaded(a, renditions={**a.renditions, "300": {**a.renditions["300"], "w": size}}))
    assert f'width="{shown}"' in html


def loaded_as_text(asset):
    return Asset.objects.filter(pk=asset.pk).for_library_text().get()


@pytest.mark.parametrize(
    "changes",
    [
        {}, {"processing_status": "failed", "last_error": HOSTILE}, {"processing_status": "pending"}, {"kind": "video"},
        {"filename": HOSTILE}, {"original": ""}, {"thumbhash": HOSTILE}, {"is_favorite": True, "is_hidden": True},
        {"renditions": {}}, {"width": 10, "renditions": {}},
        {"renditions": {"150": {"name": "a.jpg", "w": 1.0, "h": True}, "300": {"name": 'x" y', "w": [1, "<b>"], "h": {"a": 1}}}},
        {"renditions": {"300": {"name": "n.jpg", "w": 12345678901234567890, "h": 300}}},
    ],
)  # fmt: skip
def test_it_shows_a_tile_read_with_its_renditions_text_as_one_read_decoded(owner, changes, django_assert_num_queries):
    # The Library page's rows (for_library_text()) hold the renditions as the stored JSON text, not decoded.
    a = loaded(make_asset(owner), **changes)
    as_text = loaded_as_text(a)
    assert isinstance(as_text.renditions_text, str) and "renditions" not in as_text.__dict__
    decoded = tile_html(a)
    _tile.cache_clear()
    with django_assert_num_queries(0):  # nothing deferred is read
        assert tile_html(as_text) == decoded
        assert tile_html(as_text, oob=True, just_finished=True) == tile_html(a, oob=True, just_finished=True)


def test_it_keeps_a_tile_by_its_renditions_text_and_makes_it_again_when_that_changes(owner):
    a = loaded(make_asset(owner))
    first = tile_html(loaded_as_text(a))
    made = _tile.cache_info().misses
    assert tile_html(loaded_as_text(a)) is first and _tile.cache_info().misses == made
    renditions = {**a.renditions, "300": {**a.renditions["300"], "w": 301}}
    changed = tile_html(loaded_as_text(loaded(a, renditions=renditions)))
    assert changed != first and 'width="301"' in changed and _tile.cache_info().misses == made + 1
