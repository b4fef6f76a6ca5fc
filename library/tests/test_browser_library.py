"""The Library page in a real browser: uploads by file picker and by drag-and-drop,
badges that turn complete by polling, infinite scroll, selection, deleting and hover
previews, through htmx and static/js/library.js.

Each test is one flow a user goes through; every one ends with no console errors.
"""

import base64
import datetime
import re

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from conftest import make_asset
from library.models import Asset
from library.tests import files
from media_processing.models import ProcessingJob
from media_processing.renditions import render_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILES = "#grid .asset"
DROP = """async (items) => {
  const data = new DataTransfer();
  for (const item of items) {
    const bytes = Uint8Array.from(atob(item.b64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], item.name, { type: item.type }));
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    document.body.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}"""


def _tile(page, asset_id):
    return page.locator(f"#asset-{asset_id}")


def _finish_processing(asset):
    """What the worker does: renditions from the original, then the jobs marked done."""
    asset.save(update_fields=render_image(asset))
    ProcessingJob.objects.filter(asset=asset).update(status="completed", completed_at=timezone.now())


def test_it_uploads_picked_and_dropped_files_and_shows_them_turn_complete(owner_page, owner, serial):
    page = owner_page.page
    owner_page.goto("/library/")
    expect(page.get_by_test_id("empty")).to_contain_text("Your library is empty")

    page.set_input_files(
        "#upload-input",
        [
            {"name": "red.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg((640, 480), (220, 30, 30))},
            {"name": "green.png", "mimeType": "image/png", "buffer": files.png((480, 640), (30, 200, 30))},
        ],
    )
    dropped = [("blue.jpg", "image/jpeg", files.jpeg((500, 500), (30, 30, 220))), ("logo.svg", "image/svg+xml", files.svg_with_script())]
    page.evaluate(DROP, [{"name": n, "type": t, "b64": base64.b64encode(d).decode()} for n, t, d in dropped])

    rows = page.locator("#uploads .upload")
    expect(rows).to_have_count(4)
    expect(rows.locator(".upload-name")).to_have_text(["red.jpg", "green.png", "blue.jpg", "logo.svg"])
    for i in range(3):
        expect(rows.nth(i).locator(".upload-status")).to_have_text("Uploaded · processing…")
    expect(rows.nth(3)).to_have_attribute("data-state", "failed")
    expect(rows.nth(3).locator(".upload-status")).to_contain_text("SVG files are not accepted")
    # Not "All uploaded"; each file counted once ("1 failed" as well as "1 refused" counted the SVG twice).
    expect(page.locator("[data-upload-summary]")).to_have_text("3 of 4 uploaded · 1 refused · 3 processing · 0 failed")
    assert owner_page.count("/api/library/images", "POST") == 4  # one request per file
    # Chrome logs every 4xx response to the console; this one is the designed
    # answer to the SVG, shown in its row, so it is not an error of the page.
    refused = [e for e in owner_page.errors if "status of 415" in e and "/api/library/images" in e]
    assert len(refused) == 1
    owner_page.errors.remove(refused[0])

    tiles = page.locator(TILES)
    expect(tiles).to_have_count(3)
    expect(page.get_by_test_id("empty")).to_have_count(0)
    with serial:
        assets = list(Asset.objects.order_by("id"))
    assert [a.filename for a in assets] == ["red.jpg", "green.png", "blue.jpg"]
    for asset in assets:
        expect(_tile(page, asset.id).locator(".badge")).to_have_text("processing")
        expect(_tile(page, asset.id).locator(".skeleton-tile")).to_be_visible()

    for asset in assets:
        with serial:
            _finish_processing(asset)
    for asset in assets:
        tile = _tile(page, asset.id)
        expect(tile).to_have_attribute("data-status", "complete")
        expect(tile.locator(".badge")).to_have_text("complete")
        image = tile.locator("img")
        expect(image).to_have_attribute("loading", "lazy")
        expect(image).to_have_attribute("width", str(asset.renditions["300"]["w"]))
    for i in range(3):
        expect(rows.nth(i).locator(".upload-status")).to_have_text("Ready")
    # The renditions the worker wrote are served and decode in the browser.
    page.wait_for_function("() => [...document.querySelectorAll('#grid .asset img')].every(i => i.complete && i.naturalWidth > 0)")

    polls = owner_page.count("/library/watch")
    assert polls >= 1
    page.wait_for_timeout(2_500)
    assert owner_page.count("/library/watch") == polls  # polling stopped
    owner_page.assert_no_console_errors()


def test_it_lets_a_keyboard_choose_files_to_upload(owner_page, owner, serial):
    page = owner_page.page
    owner_page.goto("/library/")
    choosers = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.evaluate("0")  # a round trip: Playwright turns the interception of file choosers on without waiting
    for n, name in enumerate(("Upload files…", "choose files")):
        page.get_by_role("button", name=name).focus()
        page.keyboard.press("Enter")
        for _ in range(50):
            if len(choosers) > n:
                break
            page.wait_for_timeout(100)
        assert len(choosers) == n + 1, f"Enter on “{name}” opened no file chooser"
        choosers[n].set_files([{"name": f"{n}.png", "mimeType": "image/png", "buffer": files.png((64, 64), (220, 30, 30 + n))}])
        expect(page.locator("#uploads .upload")).to_have_count(n + 1)
    expect(page.locator("#uploads .upload .upload-status")).to_have_text(["Uploaded · processing…"] * 2)
    owner_page.assert_no_console_errors()


def test_it_shows_every_uploaded_tile_while_another_is_on_its_way(owner_page, owner, serial):
    # The first tile's answer held back: the uploads after it ask for theirs meanwhile, and each comes.
    page = owner_page.page
    held = owner_page.hold_first("**/library/*/tile")
    owner_page.goto("/library/")
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (200, 200, 30)]
    page.set_input_files("#upload-input", [{"name": f"{i}.png", "mimeType": "image/png", "buffer": files.png((64, 64), c)} for i, c in enumerate(colours)])
    expect(page.locator("#uploads .upload[data-state=processing]")).to_have_count(4)
    with serial:
        ids = list(Asset.objects.order_by("id").values_list("id", flat=True))
    for asset_id in ids:
        expect(_tile(page, asset_id).locator(".badge")).to_have_text("processing")  # its answer came: no skeleton
    assert len(held) == 1
    owner_page.assert_no_console_errors()


def test_it_says_a_duplicate_upload_is_already_in_the_library(owner_page, owner, serial):
    page = owner_page.page
    owner_page.goto("/library/")
    red = {"name": "red.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg((320, 240), (220, 30, 30))}
    page.set_input_files("#upload-input", [red])
    rows = page.locator("#uploads .upload")
    expect(rows.nth(0).locator(".upload-status")).to_have_text("Uploaded · processing…")
    with serial:
        asset = Asset.objects.get()
        _finish_processing(asset)
    expect(rows.nth(0).locator(".upload-status")).to_have_text("Ready")

    page.set_input_files("#upload-input", [{**red, "name": "red again.jpg"}])

    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_have_attribute("data-state", "done")
    expect(rows.nth(1).locator(".upload-status")).to_have_text("Already in your library")
    page.wait_for_timeout(500)  # the tile's answer arrives and is shown: the row still says so
    expect(rows.nth(1).locator(".upload-status")).to_have_text("Already in your library")
    expect(page.locator(TILES)).to_have_count(1)
    owner_page.assert_no_console_errors()


def test_it_asks_before_leaving_while_an_upload_is_on_its_way(owner_page, owner, serial):
    page = owner_page.page
    owner_page.goto("/library/")
    held = []
    page.route("**/api/library/images", lambda route: held.append(route))  # the upload's request waits here, unanswered
    leaving_asks = "(() => { const e = new Event('beforeunload', {cancelable: true}); dispatchEvent(e); return e.defaultPrevented; })()"
    assert page.evaluate(leaving_asks) is False
    page.set_input_files("#upload-input", [{"name": "red.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg((320, 240), (220, 30, 30))}])
    expect(page.locator("#uploads .upload .upload-status")).to_have_text("Uploading…")
    assert page.evaluate(leaving_asks) is True
    held[0].continue_()
    expect(page.locator("#uploads .upload .upload-status")).to_have_text("Uploaded · processing…")
    assert page.evaluate(leaving_asks) is False  # stored: a reload loses nothing now
    owner_page.assert_no_console_errors()


def test_it_says_a_duplicate_of_a_hidden_asset_stays_hidden_out_of_the_grid(owner_page, owner, serial):
    red = files.jpeg((320, 240), (220, 30, 30))
    page = owner_page.page
    owner_page.goto("/library/")
    page.set_input_files("#upload-input", [{"name": "red.jpg", "mimeType": "image/jpeg", "buffer": red}])
    expect(page.locator(TILES)).to_have_count(1)
    with serial:
        Asset.objects.update(is_hidden=True)
    owner_page.goto("/library/")
    expect(page.locator(TILES)).to_have_count(0)

    page.set_input_files("#upload-input", [{"name": "red again.jpg", "mimeType": "image/jpeg", "buffer": red}])

    row = page.locator("#uploads .upload")
    expect(row.locator(".upload-status")).to_have_text("Already in your library, hidden (the Hidden filter shows it)")
    expect(page.locator("[data-upload-summary]")).to_have_text("Nothing new · 1 already in your library · 0 processing · 0 failed")
    page.wait_for_timeout(500)
    expect(page.locator(TILES)).to_have_count(0)
    owner_page.assert_no_console_errors()


def test_it_counts_a_new_upload_in_the_total_and_a_duplicate_not(owner_page, owner, serial):
    for _ in range(2):
        make_asset(owner)
    page = owner_page.page
    owner_page.goto("/library/")
    total = page.get_by_test_id("total")
    expect(total).to_have_text("2 assets")
    red = {"name": "red.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg((320, 240), (220, 30, 30))}
    page.set_input_files("#upload-input", [red])
    expect(page.locator("#uploads .upload-status")).to_have_text("Uploaded · processing…")
    expect(total).to_have_text("3 assets")
    page.set_input_files("#upload-input", [{**red, "name": "red again.jpg"}])
    expect(page.locator("#uploads .upload").nth(1).locator(".upload-status")).to_have_text("Already in your library")
    expect(total).to_have_text("3 assets")
    with serial:
        assert owner.assets.count() == 3
    owner_page.assert_no_console_errors()


def test_it_loads_more_tiles_by_scrolling_through_120_assets(owner_page, owner, serial):
    start = timezone.now() - datetime.timedelta(days=1)
    made = [make_asset(owner) for _ in range(120)]
    for i, asset in enumerate(made):
        Asset.objects.filter(pk=asset.pk).update(created_at=start + datetime.timedelta(seconds=i))
    from django.core.files.base import ContentFile

    oldest = made[0]  # the last tile, on the second page: failed before its renditions, with a Retry button for htmx
    oldest.original.save("x.png", ContentFile(files.png((320, 240))), save=False)
    Asset.objects.filter(pk=oldest.pk).update(original=oldest.original.name, renditions={}, processing_status="failed", last_error="worker ran out of memory")
    ProcessingJob.objects.create(asset=oldest, kind="thumbnails", queue="thumbnails", status="failed", attempts=3, error="worker ran out of memory")
    page = owner_page.page
    owner_page.goto("/library/")
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(60)
    expect(page.get_by_test_id("total")).to_have_text("120 assets")
    assert tiles.first.evaluate("e => getComputedStyle(e).contentVisibility") == "auto"

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    # Tiles far above the viewport may be windowed out of the document (lists.js); they are still loaded.
    page.wait_for_function("() => i2vLists.ids(document.getElementById('grid')).length === 120")
    expect(page.locator(".more-tiles-row")).to_have_count(0)
    ids = page.evaluate("i2vLists.ids(document.getElementById('grid')).map(id => Number(id.slice(6)))")
    assert ids == [a.id for a in reversed(made)]
    # The next page's tiles were parsed anew by the window (lists.js): their htmx buttons work all the same.
    tile = _tile(page, oldest.id)
    tile.get_by_role("button", name="Retry").click()
    expect(tile).to_have_attribute("data-status", "pending")
    owner_page.assert_no_console_errors()


def test_it_selects_tiles_by_click_shift_click_and_select_all(owner_page, owner):
    made = [make_asset(owner) for _ in range(8)]
    newest_first = [a.id for a in reversed(made)]
    page = owner_page.page
    owner_page.goto("/library/")
    bar = page.locator("#selection")
    expect(bar).to_be_hidden()

    _tile(page, newest_first[1]).click()
    expect(bar).to_be_visible()
    expect(bar.locator("[data-selection-count]")).to_have_text("1 selected")
    _tile(page, newest_first[4]).click(modifiers=["Shift"])
    expect(bar.locator("[data-selection-count]")).to_have_text("4 selected")
    link = bar.get_by_role("link", name="New pipeline from selection")
    expect(link).to_have_attribute("href", "/pipelines/new?assets=" + ",".join(map(str, newest_first[1:5])))
    checked = page.locator(f"{TILES} .pick:checked")
    expect(checked).to_have_count(4)

    _tile(page, newest_first[2]).click()  # a plain click toggles one off again
    expect(bar.locator("[data-selection-count]")).to_have_text("3 selected")

    page.get_by_role("button", name="Select all loaded").click()
    expect(bar.locator("[data-selection-count]")).to_have_text("8 selected")
    bar.get_by_role("button", name="Clear selection").click()
    expect(bar).to_be_hidden()
    expect(checked).to_have_count(0)
    owner_page.assert_no_console_errors()


def test_it_deletes_the_selected_tiles_after_a_confirmation(owner_page, owner, serial):
    made = [make_asset(owner) for _ in range(5)]
    doomed, kept = [made[1], made[3]], [made[0], made[2], made[4]]
    page = owner_page.page
    owner_page.goto("/library/")
    bar = page.locator("#selection")
    for asset in doomed:
        _tile(page, asset.id).click()
    expect(bar.locator("[data-selection-count]")).to_have_text("2 selected")
    asked = []

    def answer(accept):
        def handle(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    bar.get_by_role("button", name="Delete…").click()
    expect(page.locator(TILES)).to_have_count(5)  # cancelled: nothing sent, nothing gone
    assert asked == [
        "Delete 2 assets? Their files are removed for good, pipelines that made them no longer show them, "
        "and pipelines started from them can't be rerun."
    ]
    assert owner_page.count("/library/delete", "POST") == 0

    page.once("dialog", answer(True))
    expect(page.get_by_test_id("total")).to_have_text("5 assets")
    bar.get_by_role("button", name="Delete…").click()
    expect(page.locator(TILES)).to_have_count(3)
    expect(page.get_by_test_id("total")).to_have_text("3 assets")
    for asset in doomed:
        expect(_tile(page, asset.id)).to_have_count(0)
    expect(page.locator("#toast")).to_have_text("Deleted 2 assets.")
    expect(bar).to_be_hidden()
    with serial:
        assert sorted(Asset.objects.values_list("id", flat=True)) == [a.id for a in kept]

    page.reload()
    expect(page.locator(TILES)).to_have_count(3)
    owner_page.assert_no_console_errors()


def test_it_previews_the_600px_rendition_on_hover_and_opens_the_original_in_a_new_tab(owner_page, owner):
    asset = make_asset(owner)
    page = owner_page.page
    owner_page.goto("/library/")
    tile = _tile(page, asset.id)
    tile.hover()
    preview = page.locator("img.preview")
    expect(preview).to_have_attribute("src", f"/media/{asset.renditions['600']['name']}")
    opener = tile.locator("a.open")
    expect(opener).to_have_attribute("target", "_blank")
    expect(opener).to_have_attribute("href", f"/media/{asset.original.name}")
    assert owner_page.count(f"/media/{asset.original.name}") == 0  # the original loads only when opened
    owner_page.assert_no_console_errors()


def test_it_shows_a_touch_screen_the_tiles_controls_and_no_preview_on_a_tap(browser, live_server, client, owner):
    asset = make_asset(owner)
    client.force_login(owner)
    context = browser.new_context(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/library/")
        tile = _tile(page, asset.id)
        for control in ("a.open", "input.pick"):
            expect(tile.locator(control)).to_have_css("opacity", "1")
        tile.locator("img").tap()
        expect(tile.locator("input.pick")).to_be_checked()  # a tap selects, as a click does
        expect(page.locator("img.preview")).to_have_count(0)
    finally:
        context.close()


def test_it_uploads_through_the_plain_form_with_javascript_off(browser, live_server, client, owner):
    client.force_login(owner)
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/library/")
        # What only a script can work is left out, the formats and sizes stay.
        expect(page.get_by_role("button", name="Upload files…")).to_be_hidden()
        expect(page.get_by_role("button", name="choose files")).to_be_hidden()
        expect(page.get_by_text("Drop images or videos anywhere")).to_be_hidden()
        expect(page.locator("#uploader")).to_contain_text("JPEG, PNG, WebP")
        form = page.locator("form.upload-form")
        form.locator("input[name=files]").set_input_files(
            [
                {"name": "red.jpg", "mimeType": "image/jpeg", "buffer": files.jpeg((64, 48), (220, 30, 30))},
                {"name": "green.png", "mimeType": "image/png", "buffer": files.png((48, 64), (30, 200, 30))},
            ]
        )
        form.get_by_role("button", name="Upload", exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/library/")
        expect(page.locator(".messages")).to_contain_text("Uploaded 2 files: each appears once it is processed.")
        expect(page.locator(TILES)).to_have_count(2)
        expect(page.get_by_role("button", name="Select all loaded")).to_be_hidden()
        form = page.locator("form.upload-form")
        form.locator("input[name=files]").set_input_files([{"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": files.svg_with_script()}])
        form.get_by_role("button", name="Upload", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Some files were not uploaded")
        expect(page.get_by_role("alert")).to_contain_text("logo.svg")
        assert sorted(Asset.objects.filter(owner=owner).values_list("filename", flat=True)) == ["green.png", "red.jpg"]
    finally:
        context.close()


def test_it_shows_pending_failed_and_ready_tiles_together(owner_page, owner):
    start = timezone.now() - datetime.timedelta(hours=1)
    for i in range(12):
        asset = make_asset(owner, kind="video" if i == 4 else "image", renditions=i not in (0, 1, 2, 7))
        status = {0: "pending", 1: "processing", 2: "pending", 7: "failed"}.get(i, "complete")
        error = "cannot identify image file: the original is damaged" if i == 7 else ""
        Asset.objects.filter(pk=asset.pk).update(processing_status=status, last_error=error, created_at=start - datetime.timedelta(minutes=i))
    page = owner_page.page
    owner_page.goto("/library/")
    expect(page.locator(TILES)).to_have_count(12)
    expect(page.locator(f"{TILES} .badge.s-processing")).to_have_count(3)
    failed = page.locator(f"{TILES}.s-failed")
    expect(failed.locator(".tile-error")).to_contain_text("the original is damaged")
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    owner_page.settle(1_000)
    page.screenshot(path="/tmp/library.png", full_page=True)
    owner_page.assert_no_console_errors()


def test_it_retries_a_failed_tile_and_watches_it_finish(owner_page, owner, serial):
    from django.core.files.base import ContentFile

    asset = make_asset(owner, renditions=False)
    asset.original.save("x.png", ContentFile(files.png((320, 240))), save=False)
    Asset.objects.filter(pk=asset.pk).update(original=asset.original.name, processing_status="failed", last_error="worker ran out of memory")
    ProcessingJob.objects.create(asset=asset, kind="thumbnails", queue="thumbnails", status="failed", attempts=3, error="worker ran out of memory")
    page = owner_page.page
    owner_page.goto("/library/")
    tile = _tile(page, asset.id)
    expect(tile.locator(".tile-error")).to_contain_text("worker ran out of memory")

    tile.get_by_role("button", name="Retry").click()
    expect(tile).to_have_attribute("data-status", "pending")
    expect(tile.locator(".badge")).to_have_text("processing")
    with serial:
        assert ProcessingJob.objects.get(asset=asset, kind="thumbnails").status == "queued"
        asset.refresh_from_db()
        _finish_processing(asset)
    expect(tile).to_have_attribute("data-status", "complete")
    expect(tile.locator("img")).to_have_attribute("src", f"/media/{asset.renditions['300']['name']}")
    owner_page.assert_no_console_errors()


def test_it_keeps_the_filter_controls_in_step_with_the_url_through_back_and_forward(owner_page, owner):
    for _ in range(2):
        make_asset(owner)
    make_asset(owner, kind="video")
    page = owner_page.page
    owner_page.goto("/library/")
    tiles, kind, status = page.locator(TILES), page.locator("select[name=kind]"), page.locator("select[name=status]")
    expect(tiles).to_have_count(3)

    kind.select_option("video")
    expect(tiles).to_have_count(1)
    status.select_option("complete")
    expect(page).to_have_url(re.compile(r"kind=video.*status=complete"))

    page.go_back()
    expect(page).to_have_url(re.compile(r"kind=video&.*status=&"))
    expect(kind).to_have_value("video")
    expect(status).to_have_value("")
    page.go_back()
    expect(kind).to_have_value("")
    expect(tiles).to_have_count(3)
    page.go_forward()
    expect(kind).to_have_value("video")

    # The next change keeps the filter the grid shows (make_asset's are generated: still the one video).
    page.locator("select[name=source]").select_option("generated")
    expect(page).to_have_url(re.compile(r"kind=video.*source=generated|source=generated.*kind=video"))
    expect(tiles).to_have_count(1)


def test_it_keeps_5000_loaded_tiles_under_3000_dom_nodes(owner_page, owner):
    # Every tile names the same three rendition files: 5000 tiles, three small files to serve.
    renditions = make_asset(owner).renditions
    now = timezone.now()
    Asset.objects.bulk_create(
        Asset(
            owner=owner, kind="image", source="generated", sha256=f"{i:064x}", original=f"u/{owner.id}/o/{i:064x}.jpg",
            filename=f"bulk-{i}.jpg", width=1024, height=768, renditions=renditions, processing_status="complete",
            created_at=now - datetime.timedelta(seconds=i + 1),
        )
        for i in range(4999)
    )  # fmt: skip
    page = owner_page.page
    owner_page.goto("/library/?page_size=1000")
    grid = "i2vLists.ids(document.getElementById('grid'))"
    for loaded in range(1000, 5001, 1000):
        page.wait_for_function(f"n => {grid}.length === n", arg=loaded, timeout=60_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.locator(".more-tiles-row")).to_have_count(0)
    page.wait_for_timeout(300)
    # Every node counts, text and Attr nodes included: 3,145 when htmx processed every tile it brought whole.
    nodes = owner_page.dom_nodes()
    assert nodes < 3000, nodes

    # Halfway back up, the tiles there are in the document in order, in whole grid rows.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    page.wait_for_timeout(300)
    assert page.evaluate("document.getElementsByTagName('*').length") < 3000
    outside = owner_page.dom_nodes() - owner_page.document_nodes()
    # Out of the walk: the filter controls' shadow trees and the Attr nodes of the page's own elements, a few
    # hundred; none for the items.
    assert outside < 600, outside
    seen = page.evaluate(
        """() => [...document.querySelectorAll('#grid .asset')]
            .filter(t => { const b = t.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; })
            .map(t => [t.querySelector('.name').textContent, Math.round(t.getBoundingClientRect().left)])"""
    )
    numbers = [int(name[5:-4]) for name, _ in seen]
    assert len(numbers) >= 6 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    columns = sorted({left for _, left in seen})
    assert seen[0][1] == columns[0]  # the first tile in view starts a grid row: no tile changed column
    assert 2000 < numbers[0] < 3000
    page.locator("[data-select-loaded]").click()
    expect(page.locator("[data-selection-count]")).to_have_text("5000 selected")
    owner_page.assert_no_console_errors()


def test_it_shows_the_thumbhash_until_the_thumbnail_has_loaded(owner_page, owner):
    from PIL import Image

    from media_processing import thumbhash

    asset = make_asset(owner)
    Asset.objects.filter(pk=asset.pk).update(thumbhash=thumbhash.encode(Image.new("RGB", (64, 48), (200, 40, 40))))
    page = owner_page.page
    held = []
    page.route("**/media/**", lambda route: held.append(route))  # thumbnails don't arrive until let through
    owner_page.goto("/library/")
    image = _tile(page, asset.id).locator("img")
    expect(image).to_have_attribute("data-thumbhash", re.compile(".+"))
    page.wait_for_function("() => document.querySelector('#grid img').style.backgroundImage.startsWith('url(\"data:image/png')")
    assert image.evaluate("i => i.complete && i.naturalWidth") == 0
    # The placeholder is the image's colour: a red blur where the thumbnail will be.
    pixel = page.evaluate(
        """() => new Promise(resolve => {
            const url = document.querySelector('#grid img').style.backgroundImage.slice(5, -2);
            const probe = new Image();
            probe.onload = () => {
                const c = document.createElement('canvas');
                c.width = probe.width; c.height = probe.height;
                const g = c.getContext('2d');
                g.drawImage(probe, 0, 0);
                resolve(Array.from(g.getImageData(probe.width >> 1, probe.height >> 1, 1, 1).data));
            };
            probe.src = url;
        })"""
    )
    assert pixel[0] > 150 and pixel[1] < 100 and pixel[2] < 100, pixel

    for route in held:
        route.continue_()
    page.unroute("**/media/**")
    page.wait_for_function("() => { const i = document.querySelector('#grid img'); return i.complete && i.naturalWidth > 0 && !i.style.backgroundImage; }")
    owner_page.assert_no_console_errors()
