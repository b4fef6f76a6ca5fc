"""The viewer in a real browser (static/js/viewer.js): opened from the Library and
from a Jobs expansion, moved with the keyboard, starring, deleting, comparing,
"use as source", "recall settings", the shortcuts, videos that seek, and the
asset page that stands in for it without JavaScript.

Each test is one flow a user goes through; every one ends with no console errors.
"""

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import RequestFactory
from PIL import Image
from playwright.sync_api import expect

from conftest import make_asset
from i2v.testing.browser import page_without_javascript
from i2v.tests.test_browser_csp import RECORD_VIOLATIONS
from jobs.tests.conftest import make_source
from library.media import original_name, serve
from library.models import Asset
from library.tests import files
from viewer.tests.factories import make_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWER = "dialog.viewer"


def write_originals(user):
    """Make the originals of `user`'s assets real files (test assets only name them)."""
    root = Path(settings.MEDIA_ROOT)
    for name in Asset.objects.filter(owner=user, kind="image").values_list("original", flat=True):
        path = root / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            colour = tuple(hashlib.sha256(name.encode()).digest()[:3])
            Image.new("RGB", (640, 480), colour).save(path, "JPEG", quality=70)


def _open(live, path):
    write_originals(live.user)
    live.goto(path)


def _library_ids(page):
    return page.locator("#grid [data-viewer-item]").evaluate_all("els => els.map(e => Number(e.dataset.viewerItem))")


def _shown(page):
    """The original the viewer shows."""
    return page.locator(f"{VIEWER} [data-viewer-stage] img, {VIEWER} [data-viewer-stage] video")


def _ready(page):
    """The panel of the tile shown has arrived and settled (its shortcuts act only then)."""
    panel = page.locator(f"{VIEWER} [data-viewer-details]")
    expect(panel.locator("[data-viewer-state]")).to_have_count(1)
    expect(panel).not_to_have_attribute("aria-busy", "true")


def _url(asset_id):
    return Asset.objects.get(pk=asset_id).original_url


@pytest.fixture
def pipeline_outputs(owner):
    """A pipeline with two image outputs made from one source, as the engine records them."""
    source = make_source(owner)
    first = make_output(owner, source, prompt="a red fox", seed=7, position=0)
    second = make_output(owner, source, prompt="a red fox", seed=8, position=1, pipeline=first.pipeline)
    return first, second


def _expand(page, pipeline):
    page.locator(f"#row-{pipeline.id} button[aria-expanded]").click()
    tiles = page.locator(f"#row-{pipeline.id} + tr.detail [data-viewer-item]")
    expect(tiles).to_have_count(2)
    return tiles


def _viewing_the_first_of(owner_page, count):
    """`count` assets in the Library, the viewer open on the first tile and its panel ready: (page, ids)."""
    for _ in range(count):
        make_asset(owner_page.user)
    page = owner_page.page
    _open(owner_page, "/library/")
    ids = _library_ids(page)
    page.locator(f"#asset-{ids[0]} a.open").click()
    expect(page.locator(f"{VIEWER} [data-viewer-state]")).to_have_attribute("data-asset", str(ids[0]))
    _ready(page)
    return page, ids


def test_it_opens_from_the_library_and_moves_with_the_keyboard(owner_page, owner, serial):
    for _ in range(3):
        make_asset(owner)
    page = owner_page.page
    page.add_init_script(RECORD_VIOLATIONS)  # the viewer under the Content-Security-Policy
    _open(owner_page, "/library/")
    ids = _library_ids(page)
    assert len(ids) == 3
    with serial:
        urls = [_url(i) for i in ids]

    page.locator(f"#asset-{ids[0]} a.open").click()
    viewer = page.locator(VIEWER)
    expect(viewer).to_be_visible()
    expect(_shown(page)).to_have_attribute("src", urls[0])
    expect(viewer.locator("[data-viewer-position]")).to_have_text("1 of 3")
    expect(viewer.locator("[data-viewer-state]")).to_have_attribute("data-asset", str(ids[0]))
    assert len(page.context.pages) == 1  # no tab opened on the original

    page.keyboard.press("ArrowRight")
    expect(_shown(page)).to_have_attribute("src", urls[1])
    expect(viewer.locator("[data-viewer-state]")).to_have_attribute("data-asset", str(ids[1]))
    page.keyboard.press("ArrowRight")
    expect(_shown(page)).to_have_attribute("src", urls[2])
    page.keyboard.press("ArrowRight")  # the last one stays
    expect(viewer.locator("[data-viewer-position]")).to_have_text("3 of 3")
    page.keyboard.press("ArrowLeft")
    expect(_shown(page)).to_have_attribute("src", urls[1])
    page.screenshot(path="/tmp/viewer_library.png")

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    # The tile was not selected by opening it.
    expect(page.locator("#selection")).to_be_hidden()
    assert page.evaluate("window.__violations") == []
    owner_page.assert_no_console_errors()


def test_it_says_why_a_shortcut_does_nothing_for_this_asset(owner_page, owner):
    page, _ = _viewing_the_first_of(owner_page, 1)  # made by no pipeline here, with no prompt
    status = page.locator(f"{VIEWER} [data-viewer-status]")
    page.keyboard.press("r")
    expect(status).to_have_text("Only a pipeline's output, or an image with its settings inside, has settings to recall.")
    page.keyboard.press("y")
    expect(status).to_have_text("This asset has no prompt to copy.")
    owner_page.assert_no_console_errors()


def test_it_moves_on_past_the_tiles_loaded_into_the_librarys_next_page(owner_page, owner, settings):
    settings.LIBRARY_PAGE_SIZE = 30  # rows of tiles past the window's bottom: the next page waits
    for _ in range(34):
        make_asset(owner)
    page = owner_page.page
    _open(owner_page, "/library/")
    ids = _library_ids(page)
    assert len(ids) == 30
    page.locator(f"#asset-{ids[26]}").dblclick()
    viewer = page.locator(VIEWER)
    expect(viewer.locator("[data-viewer-position]")).to_have_text("27 of 34")  # the count above the grid, not "30+"
    for position in range(28, 35):
        page.keyboard.press("ArrowRight")
        expect(viewer.locator("[data-viewer-position]")).to_have_text(f"{position} of 34")
    ids = _library_ids(page)
    expect(viewer.locator("[data-viewer-state]")).to_have_attribute("data-asset", str(ids[33]))
    expect(viewer.locator("[data-viewer-next]")).to_be_disabled()  # the last of all
    page.keyboard.press("Escape")
    expect(page.locator(f"#asset-{ids[33]}")).to_be_in_viewport()  # the grid followed the viewer
    owner_page.assert_no_console_errors()


def test_it_opens_from_a_jobs_expansion_with_the_generation_details(owner_page, owner, pipeline_outputs):
    first, second = pipeline_outputs
    page = owner_page.page
    _open(owner_page, "/jobs/")
    tiles = _expand(page, first.pipeline)

    tiles.nth(1).click()
    viewer = page.locator(VIEWER)
    expect(viewer).to_be_visible()
    expect(viewer.get_by_test_id("viewer-seed")).to_have_text("8")
    expect(viewer.get_by_test_id("viewer-prompt")).to_have_text("a red fox")
    expect(viewer.get_by_test_id("viewer-model")).to_contain_text("Local preview (image)")
    expect(viewer.get_by_test_id("viewer-cost")).to_contain_text("$0.03")
    expect(viewer.get_by_test_id("viewer-source").locator("a")).to_have_attribute("href", re.compile(r"^/assets/\d+/$"))
    page.keyboard.press("ArrowLeft")
    expect(viewer.get_by_test_id("viewer-seed")).to_have_text("7")
    expect(_shown(page)).to_have_attribute("src", first.asset.original_url)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    owner_page.assert_no_console_errors()


def test_it_stars_from_the_viewer_and_the_star_stays(owner_page, owner, pipeline_outputs, serial):
    first, _ = pipeline_outputs
    page = owner_page.page
    _open(owner_page, "/jobs/")
    tiles = _expand(page, first.pipeline)
    tiles.first.click()
    star = page.locator(f'{VIEWER} [data-viewer-action="favorite"]')
    expect(star).to_have_attribute("aria-pressed", "false")

    _ready(page)
    page.keyboard.press("f")
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(tiles.first).to_have_attribute("data-favorite", "")
    with serial:
        assert Asset.objects.get(pk=first.asset_id).is_favorite

    page.reload()
    tiles = _expand(page, first.pipeline)
    expect(tiles.first).to_have_attribute("data-favorite", "")
    tiles.first.click()
    expect(page.locator(f'{VIEWER} [data-viewer-action="favorite"]')).to_have_attribute("aria-pressed", "true")
    _ready(page)
    # And by clicking: off again.
    page.locator(f'{VIEWER} [data-viewer-action="favorite"]').click()
    expect(page.locator(f'{VIEWER} [data-viewer-action="favorite"]')).to_have_attribute("aria-pressed", "false")
    with serial:
        assert not Asset.objects.get(pk=first.asset_id).is_favorite
    owner_page.assert_no_console_errors()


def test_it_compares_two_outputs_with_a_slider(owner_page, owner, pipeline_outputs):
    first, second = pipeline_outputs
    page = owner_page.page
    page.set_viewport_size({"width": 1400, "height": 640})  # a frame wider than the pictures' shape: they fit its height
    _open(owner_page, "/jobs/")
    _expand(page, first.pipeline).first.click()

    page.keyboard.press("c")
    compare = page.locator(f"{VIEWER} [data-viewer-compare]")
    expect(compare).to_be_visible()
    expect(compare.locator("img")).to_have_count(2)
    page.wait_for_function("() => [...document.querySelectorAll('dialog.viewer [data-viewer-compare] img')].every(i => i.complete)")
    frame = compare.locator("[data-viewer-frame]").bounding_box()
    a, b_box = compare.locator("[data-viewer-a] img").bounding_box(), compare.locator("[data-viewer-b] img").bounding_box()
    assert a == b_box, "A and B lie exactly over each other"
    assert frame["y"] >= 0 and a["y"] >= frame["y"] and a["y"] + a["height"] <= frame["y"] + frame["height"] + 1
    assert frame["y"] + frame["height"] <= 640, "the frame stays in the window"
    expect(compare.locator("[data-viewer-a] img")).to_have_attribute("src", first.asset.original_url)
    expect(compare.locator("[data-viewer-b] img")).to_have_attribute("src", second.asset.original_url)
    b = compare.locator("[data-viewer-b]")
    assert "50%" in b.evaluate("el => getComputedStyle(el).clipPath")

    compare.locator("[data-viewer-split]").fill("30")
    expect(b).to_have_css("clip-path", re.compile(r"inset\(0(px)? 0(px)? 0(px)? 30%\)"))
    box = compare.locator("[data-viewer-frame]").bounding_box()
    page.screenshot(path="/tmp/viewer_compare.png")
    # B lies over A, clipped left of the split: left of 30% of the width one sees (and points at) A, right of it B.
    at = "([x, y]) => document.elementFromPoint(x, y).closest('[data-viewer-a], [data-viewer-b]').className"
    y = box["y"] + box["height"] / 2
    assert page.evaluate(at, [box["x"] + box["width"] * 0.2, y]) == "viewer-a"
    assert page.evaluate(at, [box["x"] + box["width"] * 0.4, y]) == "viewer-b"
    compare.locator("[data-viewer-split]").fill("50")
    assert page.evaluate(at, [box["x"] + box["width"] * 0.4, y]) == "viewer-a"

    page.keyboard.press("Escape")  # leaves compare, keeps the viewer
    expect(compare).to_be_hidden()
    expect(_shown(page)).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(VIEWER)).to_be_hidden()
    owner_page.assert_no_console_errors()


def test_it_uses_an_image_as_source_of_a_new_pipeline(owner_page, owner, serial):
    asset = make_source(owner)
    page = owner_page.page
    _open(owner_page, "/library/")
    page.locator(f"#asset-{asset.id} a.open").click()
    expect(page.locator(f'{VIEWER} [data-viewer-action="source"]')).to_be_visible()
    _ready(page)
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(rf"/pipelines/new\?assets={asset.id}$"))
    expect(page.locator(f'input[name=sources][value="{asset.id}"]')).to_be_checked()
    owner_page.assert_no_console_errors()


def test_it_recalls_the_settings_of_an_output(owner_page, owner, pipeline_outputs):
    first, _ = pipeline_outputs
    page = owner_page.page
    _open(owner_page, "/jobs/")
    _expand(page, first.pipeline).first.click()
    page.locator(f'{VIEWER} [data-viewer-action="recall"]').click()
    expect(page).to_have_url(re.compile(rf"/pipelines/new\?recall={first.id}$"))
    expect(page.locator("textarea[name=prompts]")).to_have_value("a red fox")
    expect(page.locator("select[name=i2i_model]")).to_have_value("local-i2i")
    expect(page.locator("select[name=aspect_ratio]")).to_have_value("1:1")
    expect(page.locator("input[name=images_per_prompt]")).to_have_value("2")
    expect(page.locator(f'input[name=sources][value="{first.step.inputs["asset_id"]}"]')).to_be_checked()
    owner_page.assert_no_console_errors()


def test_it_recalls_the_settings_inside_an_uploaded_image(owner_page, owner):
    # A picture made elsewhere: A1111's `parameters` text in its PNG.
    upload = make_source(owner, parameters="a fox <b>in snow</b>\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Seed: 42, Size: 1024x576")
    page = owner_page.page
    _open(owner_page, "/library/")
    page.locator(f"#asset-{upload.id} a.open").click()
    _ready(page)
    expect(page.locator(f'{VIEWER} [data-testid="viewer-embedded"]')).to_contain_text("Sampler: DPM++ 2M")
    page.locator(f'{VIEWER} [data-viewer-action="recall"]').click()
    expect(page).to_have_url(re.compile(rf"/pipelines/new\?recall_asset={upload.id}$"))
    expect(page.locator("textarea[name=prompts]")).to_have_value("a fox <b>in snow</b>")
    expect(page.locator("input[name=i2i_negative_prompt]")).to_have_value("blurry")
    expect(page.locator("select[name=aspect_ratio]")).to_have_value("16:9")
    expect(page.locator("input[name=i2i_enabled]")).to_be_checked()
    expect(page.locator('[data-testid="not-carried"]')).to_contain_text("Sampler DPM++ 2M isn't a setting of any model here")
    expect(page.locator("input[name=seed]")).to_have_value("42")
    page.screenshot(path="/tmp/viewer_recall_upload.png", full_page=True)
    owner_page.assert_no_console_errors()


def test_it_lists_the_shortcuts_on_question_mark(owner_page, owner):
    make_asset(owner)
    page = owner_page.page
    _open(owner_page, "/library/")
    page.locator("#grid .asset").first.dblclick()
    viewer = page.locator(VIEWER)
    expect(viewer).to_be_visible()
    shortcuts = viewer.locator("[data-viewer-shortcuts]")
    expect(shortcuts).to_be_hidden()

    page.keyboard.press("?")
    expect(shortcuts).to_be_visible()
    expect(shortcuts.locator("kbd")).to_contain_text(["← →", "Esc", "f", "h", "Delete", "y", "s", "r", "c", "o", "i", "?"])
    expect(shortcuts).to_contain_text("compare")
    page.keyboard.press("Escape")  # closes the list first
    expect(shortcuts).to_be_hidden()
    expect(viewer).to_be_visible()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    owner_page.assert_no_console_errors()


def test_it_deletes_from_the_viewer_and_shows_the_next_one(owner_page, owner, serial):
    page, ids = _viewing_the_first_of(owner_page, 2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Delete")
    expect(page.locator(f"#asset-{ids[0]}")).to_have_count(0)
    expect(page.locator(f"{VIEWER} [data-viewer-state]")).to_have_attribute("data-asset", str(ids[1]))
    expect(page.locator(f"{VIEWER} [data-viewer-status]")).to_have_text("Deleted 1 asset.")
    expect(page.get_by_test_id("total")).to_have_text("1 asset")  # the count behind the viewer follows
    with serial:
        assert not Asset.objects.filter(pk=ids[0]).exists()
    owner_page.assert_no_console_errors()


def test_it_takes_tiles_hidden_in_the_viewer_out_of_a_grid_without_hidden_ones(owner_page, owner, serial):
    page, ids = _viewing_the_first_of(owner_page, 3)
    page.keyboard.press("h")
    expect(page.locator(f"{VIEWER} [data-viewer-state]")).to_have_attribute("data-hidden", "true")
    page.keyboard.press("ArrowRight")  # the grid it opened on is still walked
    expect(page.locator(f"{VIEWER} [data-viewer-position]")).to_have_text("2 of 3")
    page.keyboard.press("Escape")
    expect(page.locator(f"#asset-{ids[0]}")).to_have_count(0)
    expect(page.get_by_test_id("total")).to_have_text("2 assets")

    page.select_option("#filters select[name=hidden]", "only")  # and shown again: out of "Only hidden"
    expect(page.locator("#grid [data-viewer-item]")).to_have_count(1)
    page.locator(f"#asset-{ids[0]} a.open").click()
    _ready(page)
    page.keyboard.press("h")
    expect(page.locator(f"{VIEWER} [data-viewer-state]")).to_have_attribute("data-hidden", "false")
    page.keyboard.press("Escape")  # at once: the panel swapped in, not yet settled
    expect(page.locator("#grid [data-viewer-item]")).to_have_count(0)
    with serial:
        assert not Asset.objects.filter(pk__in=ids, is_hidden=True).exists()
    owner_page.assert_no_console_errors()


def test_it_takes_tiles_unstarred_in_the_viewer_out_of_a_grid_of_favourites(owner_page, owner, serial):
    page, ids = _viewing_the_first_of(owner_page, 3)
    state = page.locator(f"{VIEWER} [data-viewer-state]")
    page.keyboard.press("f")
    expect(state).to_have_attribute("data-favorite", "true")
    page.keyboard.press("Escape")  # starred: the whole library shows it still
    expect(page.locator("#grid [data-viewer-item]")).to_have_count(3)

    page.check("#filters input[name=favorites]")
    expect(page.locator("#grid [data-viewer-item]")).to_have_count(1)
    assert "favorites=1" in page.url
    page.locator(f"#asset-{ids[0]} a.open").click()
    _ready(page)
    page.keyboard.press("f")
    expect(state).to_have_attribute("data-favorite", "false")
    page.keyboard.press("Escape")  # unstarred: out of the favourites
    expect(page.locator("#grid [data-viewer-item]")).to_have_count(0)
    with serial:
        assert not Asset.objects.filter(pk__in=ids, is_favorite=True).exists()
    owner_page.assert_no_console_errors()


def test_it_takes_a_tile_hidden_in_the_viewer_out_of_the_grid_when_windowed_out_meanwhile(owner_page, owner, serial):
    page, ids = _viewing_the_first_of(owner_page, 40)
    page.keyboard.press("h")
    expect(page.locator(f"{VIEWER} [data-viewer-state]")).to_have_attribute("data-hidden", "true")
    page.set_viewport_size({"width": 900, "height": 400})
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # as a walk to the grid's end would
    expect(page.locator(f"#asset-{ids[0]}")).to_have_count(0)  # windowed out, its flag with it
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("total")).to_have_text("39 assets")
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator(f"#asset-{ids[1]}")).to_be_visible()
    assert f"asset-{ids[0]}" not in page.evaluate("i2vLists.ids(document.getElementById('grid'))")
    expect(page.locator(f"#asset-{ids[0]}")).to_have_count(0)
    owner_page.assert_no_console_errors()


def test_it_plays_a_video_and_seeks_in_it(owner_page, owner):
    data = files.video(fmt="webm", codec="libvpx", size=(64, 48), frames=30)
    sha = hashlib.sha256(data).hexdigest()
    name = original_name(owner.id, sha, "webm")
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    asset = Asset.objects.create(
        owner=owner, kind="video", source="upload", sha256=sha, original=name, mime="video/webm", filename="clip.webm",
        width=64, height=48, duration=3.0, bytes=len(data), processing_status="complete",
    )  # fmt: skip
    # The test server answers /media/ itself (Django's live server serves MEDIA_ROOT, without
    # Range) before the app's media view would; the video's requests go to what that view
    # answers with once it has authorised them (library/media.py serve, test_media.py checks the rest).
    answered = []

    def through_the_media_view(route):
        headers = {"HTTP_RANGE": route.request.headers["range"]} if "range" in route.request.headers else {}
        response = serve(RequestFactory().get(urlsplit(route.request.url).path, **headers), name)
        answered.append((headers.get("HTTP_RANGE"), response.status_code))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        route.fulfill(status=response.status_code, headers=dict(response.items()), body=body)

    page = owner_page.page
    page.route(re.compile(r".*\.webm$"), through_the_media_view)
    _open(owner_page, "/library/")
    page.locator(f"#asset-{asset.id} a.open").click()
    video = page.locator(f"{VIEWER} [data-viewer-stage] video")
    expect(video).to_have_attribute("controls", "")
    video.evaluate("v => new Promise((done) => v.readyState >= 1 ? done() : v.addEventListener('loadedmetadata', done, { once: true }))")
    assert video.evaluate("v => v.seekable.length && v.seekable.end(0)") >= 2.9
    seeked = video.evaluate(
        "v => new Promise((done) => { v.pause(); v.addEventListener('seeked', () => done(v.currentTime), { once: true }); v.currentTime = 2; })"
    )
    assert 1.9 <= seeked <= 2.1
    assert ("bytes=0-", 206) in answered  # the media view answered the player's Range request
    owner_page.assert_no_console_errors()


def test_it_works_without_javascript_through_the_asset_page(browser, live_server, client, owner, pipeline_outputs, serial):
    first, _ = pipeline_outputs
    write_originals(owner)
    with page_without_javascript(browser, live_server, client, owner) as page:
        page.goto(f"{live_server.url}/jobs/{first.pipeline_id}/")
        tile = page.locator(f'[data-viewer-item="{first.asset_id}"]')
        expect(tile).to_have_attribute("href", first.asset.original_url)  # the link still opens the original
        page.goto(f"{live_server.url}/assets/{first.asset_id}/?output={first.id}")
        expect(page.get_by_test_id("viewer-seed")).to_have_text("7")
        page.locator('[data-viewer-action="favorite"]').click()  # a plain form post, then back to the page
        expect(page.locator('[data-viewer-action="favorite"]')).to_have_attribute("aria-pressed", "true")
        expect(page).to_have_url(re.compile(rf"/assets/{first.asset_id}/\?output={first.id}$"))
        with serial:
            assert Asset.objects.get(pk=first.asset_id).is_favorite


# The text's colour and the first opaque background behind it, as "r,g,b" each.
COLOURS = """el => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  let back = el;
  while (back && getComputedStyle(back).backgroundColor.match(/[\\d.]+/g).length === 4) back = back.parentElement;
  return [rgb(getComputedStyle(el).color), rgb(getComputedStyle(back || document.body).backgroundColor)];
}"""


def contrast(a, b):
    """WCAG's contrast ratio of two sRGB colours."""

    def luminance(rgb):
        linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_it_shows_the_asset_page_details_readably(owner_page, owner, pipeline_outputs):
    first, _ = pipeline_outputs
    write_originals(owner)
    owner_page.goto(f"/assets/{first.asset_id}/?output={first.id}")
    for where in ('[data-testid="viewer-seed"]', ".viewer-facts dt", '.viewer-actions a[data-viewer-action="recall"]'):
        text, back = owner_page.page.locator(where).first.evaluate(COLOURS)
        assert contrast(text, back) >= 4.5, (where, text, back)
    owner_page.assert_no_console_errors()


def test_it_closes_on_back_and_leaves_no_entry_behind_when_closed_otherwise(owner_page, owner):
    for _ in range(2):
        make_asset(owner)
    page = owner_page.page
    _open(owner_page, "/jobs/")
    owner_page.goto("/library/")
    page.locator("select[name=kind]").select_option("image")  # an entry htmx made, which it would fetch again on Back
    page.wait_for_url(re.compile(r"/library/\?.*kind=image"))
    ids = _library_ids(page)
    viewer = page.locator(VIEWER)

    # Back (a phone's back gesture) closes the viewer, and the Library stays as it was: no reload.
    page.evaluate("document.getElementById('grid').dataset.marked = '1'")
    page.locator(f"#asset-{ids[0]} a.open").click()
    expect(viewer).to_be_visible()
    page.go_back()
    expect(viewer).to_be_hidden()
    assert "kind=image" in page.url and page.evaluate("document.getElementById('grid').dataset.marked") == "1"

    # Closed with Esc, it takes its entry with it: Back then leaves the Library, as before it was opened.
    page.locator(f"#asset-{ids[1]} a.open").click()
    expect(viewer).to_be_visible()
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    page.wait_for_timeout(200)
    assert "kind=image" in page.url and page.evaluate("document.getElementById('grid').dataset.marked") == "1"
    page.go_back()
    page.wait_for_url(owner_page.url("/library/"))
    owner_page.assert_no_console_errors()
