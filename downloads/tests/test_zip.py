"""GET /downloads/zip: one streamed zip of selected outputs, pipelines and Library items."""

import csv
import io
import json
import zipfile

import pytest
from django.db import connection

from conftest import make_asset
from i2v.models import ApiToken

URL = "/downloads/zip"
MANIFESTS = ["manifest.csv", "manifest.json"]


def open_zip(response):
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    body = b"".join(response.streaming_content)
    return zipfile.ZipFile(io.BytesIO(body))


def manifest(archive):
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    data = json.loads(archive.read("manifest.json"))
    assert [r["path"] for r in rows] == [f["path"] for f in data["files"]]
    return rows, data


def test_it_zips_a_pipeline_with_descriptive_names_and_a_manifest(owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, name="Sunset run", outputs=2, prompt="A red fox, at dusk!")
    response = owner_client.get(URL, {"pipelines": p.id})
    assert response["Content-Type"] == "application/zip"
    folder = f"sunset-run-{p.id}"
    assert response["Content-Disposition"] == f'attachment; filename="{folder}.zip"'  # one pipeline: its folder's name
    assert response["X-Accel-Buffering"] == "no"
    archive = open_zip(response)
    expected = [f"{folder}/01_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg", f"{folder}/02_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg"]
    assert archive.namelist() == [*expected, "manifest.csv", "manifest.json"]
    assert archive.testzip() is None  # every CRC right
    assert archive.read(expected[0]) == f"file {p.id}-0".encode()
    rows, data = manifest(archive)
    first = rows[0]
    assert first["source"] == "pipeline" and first["pipeline"] == "Sunset run" and first["pipeline_id"] == str(p.id)
    assert first["prompt"] == "A red fox, at dusk!" and first["model"] == "fal-ai/flux-kontext" and first["seed"] == "42"
    assert first["cost"] == "0.0400" and first["created_at"].endswith("Z") and first["error"] == ""
    assert data["files"][1]["bytes"] == len(f"file {p.id}-1")


def test_it_names_files_in_the_script_their_prompt_and_pipeline_are_written_in(owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, name="<b>ריצה</b> 🚀 हिन्दी", outputs=1, prompt="שלום עולם 🚗, 我的书")
    other = stored_pipeline(owner, name="Second", outputs=1)
    archive = open_zip(owner_client.get(URL, {"pipelines": [p.id, other.id]}))
    assert archive.namelist()[0] == f"b-ריצה-b-हिन्दी-{p.id}/01_שלום-עולם-我的书_fal-ai-flux-kontext_42.jpg"
    assert archive.infolist()[0].flag_bits & 0x800  # marked UTF-8: unpacked under the same name everywhere


def test_it_writes_no_formula_a_spreadsheet_would_run_into_the_csv_manifest(owner_client, owner, stored_pipeline):
    name, prompt = "=cmd|'/c calc'!A1", '=HYPERLINK("http://evil.example","click")'
    p = stored_pipeline(owner, name=name, outputs=1, prompt=prompt)
    rows, data = manifest(open_zip(owner_client.get(URL, {"pipelines": p.id})))
    assert (rows[0]["pipeline"], rows[0]["prompt"]) == ("'" + name, "'" + prompt)
    assert rows[0]["cost"] == "0.0400" and rows[0]["pipeline_id"] == str(p.id)  # numbers as they were
    assert (data["files"][0]["pipeline"], data["files"][0]["prompt"]) == (name, prompt)  # the JSON keeps them


def test_it_zips_chosen_tiles_and_library_items_under_their_own_names(owner_client, owner, stored_pipeline, stored_asset_named):
    p = stored_pipeline(owner, outputs=3)
    second = p.outputs.order_by("position")[1]
    a = stored_asset_named(owner, "Holiday Photo (1).PNG")
    b = stored_asset_named(owner, "Holiday Photo (1).png", data=b"other bytes")  # the same name once made safe
    c = stored_asset_named(owner, "../../etc/passwd")
    archive = open_zip(owner_client.get(URL, {"outputs": [second.id], "assets": f"{a.id},{b.id},{c.id}"}))
    names = archive.namelist()
    assert names[0].endswith("/02_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg")
    # Newest first; the second of one name gets -2, compared without case; nothing climbs out.
    assert names[1:4] == ["library/passwd.jpg", "library/Holiday-Photo-1.jpg", "library/Holiday-Photo-1-2.jpg"]
    assert archive.read("library/Holiday-Photo-1.jpg") == b"other bytes"
    rows, _ = manifest(archive)
    assert [r["source"] for r in rows] == ["pipeline", "library", "library", "library"]
    assert rows[2]["original_name"] == "Holiday Photo (1).png"


def test_it_names_and_describes_a_generated_library_item_as_the_output_it_is(owner_client, owner, stored_pipeline, stored_asset_named, django_assert_num_queries):
    p = stored_pipeline(owner, name="Fox run", outputs=2)
    first, second = p.outputs.select_related("asset").order_by("position")
    upload = stored_asset_named(owner, "Beach.png")
    with django_assert_num_queries(4):  # each kind sized, then read: as for outputs and uploads alone
        archive = open_zip(owner_client.get(URL, {"assets": f"{second.asset_id},{upload.id}"}))
    assert archive.namelist() == [f"fox-run-{p.id}/02_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg", "library/Beach.jpg", *MANIFESTS]
    rows, _ = manifest(archive)
    assert (rows[0]["pipeline"], rows[0]["output_id"], rows[0]["asset_id"]) == ("Fox run", str(second.id), str(second.asset_id))
    assert (rows[0]["model"], rows[0]["seed"], rows[0]["cost"]) == ("fal-ai/flux-kontext", "42", "0.0400")
    assert rows[1]["source"] == "library" and rows[1]["model"] == ""


@pytest.mark.parametrize(
    "query, status, code",
    [({}, 400, "invalid"), ({"outputs": "abc"}, 400, "invalid"), ({"pipelines": "999999"}, 404, "not_found"),
     ({"assets": ",".join(str(n) for n in range(1, 1002))}, 413, "too_large")],
)
def test_it_refuses_a_script_in_json(client, owner, query, status, code):
    response = client.get(URL, query, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}")
    assert response.status_code == status and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]["code"] == code


def test_it_takes_the_newest_output_of_a_shared_item_and_leaves_an_upload_a_pipeline_reproduced(owner_client, owner, stored_pipeline, stored_asset_named):
    older, newer = stored_pipeline(owner, name="Older", outputs=1), stored_pipeline(owner, name="Newer", outputs=1)
    shared = older.outputs.get().asset
    newer.outputs.update(asset=shared)  # the same bytes made twice: one asset, two outputs
    upload = stored_asset_named(owner, "Mine.png")
    stored_pipeline(owner, name="Again", outputs=1).outputs.update(asset=upload)  # a pipeline made bytes someone uploaded
    archive = open_zip(owner_client.get(URL, {"assets": f"{shared.id},{upload.id}"}))
    assert archive.namelist()[:2] == [f"newer-{newer.id}/01_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg", "library/Mine.jpg"]


def test_it_names_two_outputs_of_one_step_apart(owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=2)
    p.outputs.update(position=0)
    names = open_zip(owner_client.get(URL, {"pipelines": p.id})).namelist()
    assert names[0].endswith("/01_a-red-fox-at-dusk_fal-ai-flux-kontext_42.jpg")
    assert names[1].endswith("/01_a-red-fox-at-dusk_fal-ai-flux-kontext_42-2.jpg")


def test_it_leaves_out_other_users_ids(owner_client, owner, other, stored_pipeline, stored_asset_named):
    mine = stored_pipeline(owner, outputs=1)
    theirs = stored_pipeline(other, outputs=1, name="Secret")
    their_asset = stored_asset_named(other, "secret.png")
    response = owner_client.get(
        URL, {"pipelines": [mine.id, theirs.id], "outputs": theirs.outputs.get().id, "assets": their_asset.id}
    )
    rows, _ = manifest(open_zip(response))
    assert [r["pipeline_id"] for r in rows] == [str(mine.id)]


def test_it_is_404_for_only_other_users_ids(owner_client, other, stored_pipeline, stored_asset_named):
    theirs = stored_pipeline(other, outputs=1)
    response = owner_client.get(URL, {"pipelines": theirs.id, "assets": stored_asset_named(other, "x.png").id})
    assert response.status_code == 404
    assert b"None of the selected items is yours" in response.content


def test_it_says_when_the_pipelines_chosen_have_made_nothing_yet(owner_client, owner, stored_pipeline):
    empty = stored_pipeline(owner, outputs=0)
    response = owner_client.get(URL, {"pipelines": empty.id})
    assert response.status_code == 404
    assert b"The selected pipelines have no outputs yet" in response.content


@pytest.mark.parametrize(
    "query,status,message",
    [
        ({}, 400, b"Select some outputs"),
        ({"outputs": ""}, 400, b"Select some outputs"),
        ({"outputs": "abc"}, 400, "“abc” is not an id".encode()),
        ({"pipelines": "-1"}, 400, b"is not an id"),
        ({"assets": "0"}, 400, b"is not an id"),
        ({"assets": "99999999999999999999999"}, 400, b"is not an id"),
        ({"outputs": "<script>"}, 400, b"&lt;script&gt;"),
        ({"outputs": ",".join(str(n) for n in range(1, 1002))}, 413, b"select at most 1,000"),
    ],
)
def test_it_refuses_bad_selections_clearly(owner_client, query, status, message):
    response = owner_client.get(URL, query)
    assert response.status_code == status
    assert message in response.content
    assert b"<script>" not in response.content


def test_it_refuses_more_files_or_bytes_than_one_download_holds(owner_client, owner, settings, stored_pipeline):
    p = stored_pipeline(owner, outputs=3, data=b"x" * 1000)
    settings.DOWNLOAD_MAX_FILES = 2
    response = owner_client.get(URL, {"pipelines": p.id})
    assert response.status_code == 413 and b"3 files selected" in response.content
    settings.DOWNLOAD_MAX_FILES, settings.DOWNLOAD_MAX_BYTES = 10, 2999
    response = owner_client.get(URL, {"pipelines": p.id})
    assert response.status_code == 413 and b"GB selected" in response.content


def test_it_needs_a_login(client):
    assert client.get(URL, {"outputs": 1}).status_code == 302


def test_it_says_in_the_manifest_which_files_are_not_here(owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=2)
    gone = p.outputs.order_by("position")[0].asset
    from django.core.files.storage import default_storage

    default_storage.delete(gone.original.name)
    archive = open_zip(owner_client.get(URL, {"pipelines": p.id}))
    rows, _ = manifest(archive)
    assert rows[0]["path"] == "" and rows[0]["error"] == "missing from storage" and rows[0]["asset_id"] == str(gone.id)
    assert len(archive.namelist()) == 3  # the other file and the two manifests


def test_it_streams_with_the_same_queries_for_2_or_40_files(owner_client, owner, stored_pipeline, stored_asset_named, django_assert_num_queries):
    small = stored_pipeline(owner, outputs=1)
    small_asset = stored_asset_named(owner, "one.png")
    big = [stored_pipeline(owner, outputs=10) for _ in range(3)]
    assets = [stored_asset_named(owner, f"a{n}.png") for n in range(10)]
    # One aggregate per kind; one query per kind, read in chunks (through a server-side cursor on
    # PostgreSQL), whatever the number of files. The user comes from the cache with the session.
    expected = 4
    for pipelines, asset_ids in (([small.id], [small_asset.id]), ([p.id for p in big], [a.id for a in assets])):
        with django_assert_num_queries(expected, connection=connection):
            archive = open_zip(owner_client.get(URL, {"pipelines": pipelines, "assets": asset_ids}))
        assert len(archive.namelist()) == len(pipelines) * (1 if pipelines == [small.id] else 10) + len(asset_ids) + 2


def test_it_keeps_an_unfetched_import_in_the_manifest(owner_client, owner):
    remote = make_asset(owner)
    remote.original, remote.remote_url = "", "https://cdn.example/x.png"
    remote.save()
    archive = open_zip(owner_client.get(URL, {"assets": remote.id}))
    rows, _ = manifest(archive)
    assert rows[0]["error"].startswith("not fetched yet")


def test_it_takes_a_long_selection_as_a_post(owner_client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=2)
    ids = [o.id for o in p.outputs.all()] + list(range(10_000_000, 10_000_900))  # far past a request line's length
    archive = open_zip(owner_client.post(URL, {"outputs": ids}))
    assert len(archive.namelist()) == 4


def test_it_needs_the_csrf_token_on_a_post(client, owner, stored_pipeline):
    p = stored_pipeline(owner, outputs=1)
    strict = type(client)(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(URL, {"pipelines": p.id}).status_code == 403


def test_it_answers_head_with_the_headers_of_get_and_makes_no_zip(owner_client, owner, stored_pipeline, django_assert_num_queries):
    p = stored_pipeline(owner, name="Sunset run", outputs=2)
    get = owner_client.get(URL, {"pipelines": p.id})
    with django_assert_num_queries(2, connection=connection):  # the selection's size, the zip's name; no file's row
        head = owner_client.head(URL, {"pipelines": p.id})
    assert head.status_code == 200 and b"".join(head.streaming_content) == b""
    for name in ("Content-Type", "Content-Disposition", "Cache-Control", "X-Accel-Buffering"):
        assert head[name] == get[name], name
    assert owner_client.head(URL, {"pipelines": 99_999_999}).status_code == 404  # refused as its GET would be
    assert owner_client.head(URL, {"pipelines": "abc"}).status_code == owner_client.get(URL, {"pipelines": "abc"}).status_code == 400
