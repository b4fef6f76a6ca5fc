"""Downloads in a real browser: picking outputs of an expanded Jobs row, the bulk bar's
zip of whole pipelines, the Library selection's zip, and one file's ⤓, each saved by
Chromium and opened here. (`owner_page` comes from i2v.testing.browser, registered by the root conftest.)"""

import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def saved(download):
    assert download.failure() is None
    with open(download.path(), "rb") as f:
        return f.read()


def opened(download):
    archive = zipfile.ZipFile(io.BytesIO(saved(download)))
    assert archive.testzip() is None
    return archive


def test_it_zips_the_outputs_picked_in_an_expanded_row(owner_page, owner, stored_pipeline):
    p = stored_pipeline(owner, name="Fox run", outputs=3, prompt="a red fox")
    outputs = list(p.outputs.order_by("position"))
    page = owner_page.page
    owner_page.goto("/jobs/")
    page.locator(f"#row-{p.id} button[aria-expanded]").click()
    grid = page.locator(f"#dl-{p.id} ~ .grid")
    expect(grid.locator(".tile-box")).to_have_count(3)
    picked = page.locator(f"#dl-{p.id} [data-download-picked]")
    expect(picked).to_be_disabled()
    grid.locator(f'.tile-box[data-output="{outputs[0].id}"] input.pick').check()
    expect(picked).to_be_enabled()
    grid.locator(f'.tile-box[data-output="{outputs[2].id}"] input.pick').check()
    with page.expect_download() as info:
        picked.click()
    download = info.value
    assert download.suggested_filename.startswith("i2v-") and download.suggested_filename.endswith(".zip")
    archive = opened(download)
    folder = f"fox-run-{p.id}"
    assert archive.namelist() == [
        f"{folder}/01_a-red-fox_fal-ai-flux-kontext_42.jpg", f"{folder}/03_a-red-fox_fal-ai-flux-kontext_42.jpg",
        "manifest.csv", "manifest.json",
    ]  # fmt: skip
    assert [f["output_id"] for f in json.loads(archive.read("manifest.json"))["files"]] == [outputs[0].id, outputs[2].id]

    # One output's ⤓ saves that file under the same name.
    with page.expect_download() as info:
        grid.locator(f'.tile-box[data-output="{outputs[1].id}"]').hover()
        grid.locator(f'.tile-box[data-output="{outputs[1].id}"] a.download').click()
    assert info.value.suggested_filename == "02_a-red-fox_fal-ai-flux-kontext_42.jpg"
    assert saved(info.value) == f"file {p.id}-1".encode()
    expect(page).to_have_url(owner_page.url("/jobs/"))  # still on the page


def test_it_zips_the_pipelines_selected_in_the_bulk_bar(owner_page, owner, stored_pipeline):
    first = stored_pipeline(owner, name="First", outputs=2)
    second = stored_pipeline(owner, name="Second", outputs=1)
    stored_pipeline(owner, name="Not chosen", outputs=1)
    page = owner_page.page
    owner_page.goto("/jobs/")
    for p in (first, second):
        page.locator(f"#row-{p.id} input[type=checkbox]").check()
    bar = page.locator("#bulk")
    expect(bar.locator("[data-bulk-count]")).to_have_text("2 selected")
    with page.expect_download() as info:
        bar.locator("[data-bulk-download]").click()
    names = opened(info.value).namelist()
    assert owner_page.count("/downloads/zip", "POST") == 1  # ids in the body, not the request line
    expect(page).to_have_url(owner_page.url("/jobs/"))
    assert sorted({n.split("/")[0] for n in names}) == [f"first-{first.id}", "manifest.csv", "manifest.json", f"second-{second.id}"]
    assert len(names) == 5


def test_it_zips_the_library_selection_under_original_names(owner_page, owner, stored_asset_named):
    a = stored_asset_named(owner, "Beach day.png", data=b"beach")
    b = stored_asset_named(owner, "Mountains.webp", data=b"mountains")
    stored_asset_named(owner, "Not chosen.png")
    page = owner_page.page
    owner_page.goto("/library/")
    for asset in (a, b):
        page.locator(f"#asset-{asset.id}").click()
    bar = page.locator("#selection")
    expect(bar.locator("[data-selection-count]")).to_have_text("2 selected")
    with page.expect_download() as info:
        bar.locator("[data-download-selected]").click()
    archive = opened(info.value)
    assert sorted(archive.namelist()) == ["library/Beach-day.jpg", "library/Mountains.jpg", "manifest.csv", "manifest.json"]
    assert archive.read("library/Beach-day.jpg") == b"beach"
