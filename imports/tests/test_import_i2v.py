"""manage.py import_i2v: an i2v database (built here from i2v's schema, odd rows
included) and its files come over once, whatever happens on the way."""

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from imports.models import ImportRecord, ImportSource
from imports.testing import I2vDatabase
from jobs.models import Output, Pipeline, Step, Tag
from library.media import original_name
from library.models import Asset
from library.tests.remote_server import Reply
from media_processing.models import ProcessingJob

from .conftest import BLUE, CLIP, RED

CDN = "https://v3.fal.media/files"


def run(db_path, *args, **options):
    """Run the command; its one-line summary."""
    out, err = io.StringIO(), io.StringIO()
    options.setdefault("owner", "alice")
    call_command("import_i2v", str(db_path), *args, stdout=out, stderr=err, verbosity=0, **options)
    return out.getvalue().strip()


def counts(summary):
    found = re.match(r".*?(\d+) imported, (\d+) skipped, (\d+) failed; files: (\d+) stored, (\d+) already here, (\d+) remote.*?, (\d+) failed", summary)
    keys = ("imported", "skipped", "failed", "stored", "reused", "remote", "files failed")
    return dict(zip(keys, map(int, found.groups())))


def log_of(summary):
    return Path(summary.rsplit("reasons in ", 1)[1]).read_text()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def by_name(name):
    return Pipeline.objects.get(name=name)


@pytest.fixture
def history(i2v_db):
    """Months of i2v work in one database: ordinary records and odd ones."""
    db = i2v_db
    db.pipeline(
        name="Sunset — 夕焼け ✨", tags=["Client: ACME", "final", "Café", "日本", "final"], is_favorite=1,
        description="Second pass, warmer.", mode="checkpoint", checkpoints=["i2v"],
        steps=[
            {"step_type": "prompt_enhance", "config": {"input_prompts": ["sunset"]}, "outputs": {"prompts": ["golden sunset", "red sunset"]}, "cost_actual": "0.0010"},
            {
                "step_type": "i2i", "config": {"model": "gpt-image-1.5", "images_per_prompt": 1},
                "inputs": {"image_urls": [f"{CDN}/src.png"], "prompts": ["golden sunset", "red sunset"]},
                "outputs": {
                    "image_urls": ["downloads/red.png", f"{CDN}/out/b.png"], "thumbnail_urls": [f"{CDN}/thumb/a.jpg", None],
                    "items": [{"url": "downloads/red.png", "type": "image"}, {"url": f"{CDN}/out/b.png", "type": "image"}], "count": 2,
                },
                "cost_estimate": "0.0800", "cost_actual": "0.0800",
            },
            {
                "step_type": "i2v", "config": {"model": "kling", "duration_sec": 5}, "inputs": {"prompts": ["slow pan"]},
                "outputs": {"video_urls": ["/home/someone/i2v/downloads/clip.mp4"], "items": [{"url": "/home/someone/i2v/downloads/clip.mp4", "type": "video"}]},
                "cost_actual": "0.2500",
            },
        ],
    )  # fmt: skip
    db.pipeline(
        name="<script>alert(1)</script> & <b>bold</b>", status="paused", is_hidden=1, mode="checkpoint",
        steps=[
            {"outputs": {"image_urls": ["downloads/blue.png"]}},
            {"step_type": "i2v", "status": "review", "cost_actual": None},
            {"step_type": "i2v", "status": "pending", "cost_actual": None},
        ],
    )  # fmt: skip
    db.pipeline(name="Broken tags", tags="[not json")
    db.pipeline(name="Broken outputs", steps=[{"outputs": '{"image_urls": ['}])
    db.pipeline(name="Odd status", status="exploded")
    db.pipeline(name="Odd step", steps=[{"status": "teleported"}])
    db.pipeline(name="Odd cost", steps=[{"cost_actual": "lots"}])
    db.pipeline(name="Still going", status="running", steps=[{"status": "running"}])
    db.pipeline(
        name="Files gone astray", status="failed",
        steps=[
            {"outputs": ["downloads/missing.png", "downloads/notes.txt", "downloads/escape.png", "downloads/red-again.png"]},
            {"status": "failed", "error_message": "Provider returned HTTP 502", "cost_actual": None},
            {"status": "pending", "cost_actual": None},
        ],
    )  # fmt: skip
    db.insert("jobs", image_url=f"{CDN}/src1.png", motion_prompt="zoom in\nslowly", wan_status="completed", model="wan", wan_request_id="req-1", wan_video_url=f"{CDN}/v/1.mp4", local_video_path="downloads/clip.mp4", created_at=db.tick(), updated_at=db.tick())
    db.insert("jobs", image_url=f"{CDN}/src2.png", motion_prompt="orbit", wan_status="failed", error_message="content policy", created_at=db.tick(), updated_at=db.tick())
    db.insert("jobs", image_url=f"{CDN}/src3.png", motion_prompt="later", wan_status="submitted", created_at=db.tick(), updated_at=db.tick())
    db.insert("image_jobs", source_image_url=f"{CDN}/src4.png", prompt="a red square", status="completed", result_image_urls=[f"{CDN}/i/1.png", f"{CDN}/i/2.png"], local_image_paths=["downloads/red.png", None], created_at=db.tick(), updated_at=db.tick())
    batch = db.insert("batch_jobs", job_id=str(uuid.UUID(int=7)), user_id=1, template_id="cosplay-v2", output_type="video", quantity=3, config={"model": "wan-2.2"}, status="completed", credits_charged=30, created_at=db.tick(), updated_at=db.tick())
    db.insert_many("batch_job_items", [
        {"batch_job_id": batch, "item_index": 0, "prompt": "wave", "status": "completed", "result_url": f"{CDN}/b/0.mp4", "thumbnail_url": f"{CDN}/b/0.jpg", "created_at": db.tick()},
        {"batch_job_id": batch, "item_index": 1, "prompt": "jump", "status": "failed", "error_message": "timeout", "created_at": db.tick()},
        {"batch_job_id": batch, "item_index": 2, "prompt": "spin", "status": "completed", "result_url": f"{CDN}/b/2.mp4", "variation_params": {"pose": "left"}, "created_at": db.tick()},
    ])  # fmt: skip
    db.insert("batch_jobs", job_id=str(uuid.UUID(int=8)), user_id=1, output_type="hologram", quantity=1, created_at=db.tick(), updated_at=db.tick(), status="completed")
    return db


@pytest.fixture
def history_path(history, tmp_path):
    return tmp_path / "wan_jobs.db"


def test_it_imports_pipelines_with_their_steps_outputs_tags_costs_and_dates(owner, history_path, folder):
    summary = run(history_path, files_from=folder)
    assert counts(summary) == {
        "imported": 7, "skipped": 2, "failed": 6, "stored": 3, "reused": 3, "remote": 4, "files failed": 3,
    }  # fmt: skip
    sunset = by_name("Sunset — 夕焼け ✨")
    assert (sunset.status, sunset.mode, sunset.is_favorite, sunset.is_hidden) == ("completed", "checkpoint", True, False)
    assert sunset.description == "Second pass, warmer." and sunset.total_cost == Decimal("0.3310")
    assert sunset.created_at.isoformat() == "2025-01-06T09:37:00+00:00"
    assert sunset.updated_at.isoformat() == "2025-01-06T09:38:00+00:00"  # i2v's, not the import's
    assert (sunset.model, sunset.first_prompt, sunset.planned_steps, sunset.progress_done) == ("gpt-image-1.5", "sunset", 3, 3)
    assert sorted(sunset.tags.values_list("name", flat=True)) == ["cafe", "client-acme", "final"]
    assert sunset.config["i2v"] == {"table": "pipelines", "id": 1, "checkpoints": ["i2v"]}
    assert "golden sunset" in sunset.search_text and "夕焼け" in sunset.search_text
    steps = list(sunset.steps.order_by("order"))
    assert [(s.kind, s.order, s.status, s.cost_actual) for s in steps] == [
        ("prompt_enhance", 0, "completed", Decimal("0.0010")), ("i2i", 1, "completed", Decimal("0.0800")),
        ("i2v", 2, "completed", Decimal("0.2500")),
    ]  # fmt: skip
    assert steps[0].config["enhanced_prompts"] == ["golden sunset", "red sunset"] and steps[0].outputs.count() == 0
    assert steps[1].model_name == "gpt-image-1.5" and steps[1].inputs["image_urls"] == [f"{CDN}/src.png"]
    outputs = list(sunset.outputs.select_related("asset", "step").order_by("position"))
    assert [(o.position, o.step.kind, o.asset.kind, o.asset.prompt) for o in outputs] == [
        (0, "i2i", "image", "golden sunset"), (1, "i2i", "image", "red sunset"), (2, "i2v", "video", "slow pan"),
    ]  # fmt: skip
    red, remote, clip = (o.asset for o in outputs)
    assert (red.sha256, red.source, red.mime, red.width, red.height) == (sha(RED), "generated", "image/png", 64, 48)
    assert red.original.name == original_name(red.owner_id, sha(RED), "png") and default_storage.exists(red.original.name)
    assert (remote.processing_status, remote.remote_url, remote.sha256, remote.original.name) == ("remote", f"{CDN}/out/b.png", None, "")
    assert (clip.kind, clip.sha256, clip.filename) == ("video", sha(CLIP), "clip.mp4")
    assert red.created_at == steps[1].finished_at  # when i2v made it, so the Library shows history in place


def test_it_maps_statuses_nothing_here_would_continue(owner, history_path, folder):
    run(history_path, files_from=folder)
    paused = Pipeline.objects.get(name__startswith="<script>")
    assert (paused.status, paused.is_hidden) == ("paused", True)
    assert list(paused.steps.order_by("order").values_list("status", flat=True)) == ["completed", "review", "pending"]
    astray = by_name("Files gone astray")
    assert list(astray.steps.order_by("order").values_list("status", "error")) == [
        ("completed", ""), ("failed", "Provider returned HTTP 502"), ("cancelled", ""),
    ]  # fmt: skip
    assert not Pipeline.objects.filter(status__in=["pending", "running"]).exists()
    assert not Step.objects.filter(status__in=["queued", "running"]).exists()  # no worker will ever pick one up


def test_it_turns_single_jobs_image_jobs_and_batches_into_pipelines(owner, history_path, folder):
    run(history_path, files_from=folder)
    video = by_name("Video: zoom in slowly")
    [step] = video.steps.all()
    assert (video.status, video.model, step.kind, step.config["request_id"], step.inputs["image_urls"]) == (
        "completed", "wan", "i2v", "req-1", [f"{CDN}/src1.png"],
    )  # fmt: skip
    assert video.outputs.get().asset.sha256 == sha(CLIP)  # the downloaded copy rather than the URL
    failed = by_name("Video: orbit")
    assert (failed.status, failed.steps.get().error, failed.outputs.count()) == ("failed", "content policy", 0)
    image = by_name("Image: a red square")
    assert [o.asset.sha256 or o.asset.remote_url for o in image.outputs.order_by("position")] == [sha(RED), f"{CDN}/i/2.png"]
    batch = by_name("Batch: cosplay-v2")
    assert batch.config["i2v"]["credits_charged"] == 30 and batch.model == "wan-2.2"
    assert list(batch.steps.order_by("order").values_list("kind", "status", "error", "config__prompt")) == [
        ("i2v", "completed", "", "wave"), ("i2v", "failed", "timeout", "jump"), ("i2v", "completed", "", "spin"),
    ]  # fmt: skip
    assert [o.asset.remote_url for o in batch.outputs.order_by("position")] == [f"{CDN}/b/0.mp4", f"{CDN}/b/2.mp4"]
    assert all(o.asset.kind == "video" for o in batch.outputs.all())


def test_it_reports_every_bad_row_and_file_with_its_reason_and_goes_on(owner, history_path, folder):
    log = log_of(run(history_path, files_from=folder))
    assert "failed  pipelines #3: tags is not valid JSON (Expecting value at character 1)" in log
    assert "failed  pipelines #4: its step #" in log and "outputs is not valid JSON" in log
    assert "failed  pipelines #5: unknown status 'exploded'" in log
    assert "failed  pipelines #6: its step #" in log and "unknown status 'teleported'" in log
    assert "failed  pipelines #7: its step #" in log and "cost_actual is not a number: 'lots'" in log
    assert "failed  batch_jobs #2: unknown output_type 'hologram'" in log
    assert "skipped pipelines #8: still running in i2v" in log and "skipped jobs #3: still submitted in i2v" in log
    assert re.search(r"failed  pipelines #9, an output: Missing file: downloads/missing.png is not under .*i2v-folder", log)
    assert "failed  pipelines #9, an output: This is not an image or video format we accept" in log
    assert "failed  pipelines #9, an output: Missing file: downloads/escape.png" in log  # the symlink leads out
    assert "changed pipelines #1: tag 'Client: ACME' became 'client-acme'" in log
    assert "changed pipelines #1: tag '日本' dropped: nothing of it fits [a-z0-9-]" in log
    astray = by_name("Files gone astray")
    assert [o.asset.sha256 for o in astray.outputs.all()] == [sha(RED)]  # red-again.png: the same bytes as red.png
    assert not Pipeline.objects.filter(name__in=["Broken tags", "Broken outputs", "Odd status", "Odd step", "Still going"]).exists()


def test_it_stores_each_file_once_per_owner_and_never_reads_outside_files_from(owner, other, history_path, folder):
    name = default_storage.save(original_name(owner.pk, sha(BLUE), "png"), io.BytesIO(BLUE))
    upload = Asset.objects.create(owner=owner, sha256=sha(BLUE), original=name, source="upload")
    run(history_path, files_from=folder)
    assert Asset.objects.filter(owner=owner, sha256=sha(RED)).count() == 1
    assert by_name("<script>alert(1)</script> & <b>bold</b>").outputs.get().asset == upload  # already uploaded
    stored = sorted(p.name for p in Path(settings.MEDIA_ROOT, "u").rglob("*") if p.is_file())
    assert stored == sorted([f"{sha(RED)}.png", f"{sha(CLIP)}.mp4", f"{sha(BLUE)}.png"])  # each once, blue by the upload
    assert not Asset.objects.filter(filename__in=["escape.png", "private.png", "notes.txt"]).exists()
    summary = run(history_path, owner="bob", files_from=folder)  # another owner gets copies of their own
    assert counts(summary)["imported"] == 7 and Asset.objects.filter(owner=other, sha256=sha(RED)).count() == 1


def test_it_queues_renditions_and_remote_fetches_at_backfill_priority_for_the_sweeper_to_send(
    owner, history_path, folder, django_capture_on_commit_callbacks, memory_broker
):
    with django_capture_on_commit_callbacks(execute=True):
        run(history_path, files_from=folder)
    jobs = ProcessingJob.objects.filter(asset__owner=owner)
    assert set(jobs.values_list("queue", "priority", "status")) == {("backfill", ProcessingJob.PRIORITIES["backfill"], "queued")}
    assert not jobs.filter(sent_at__isnull=False).exists()  # no message yet: a big import must not flood the broker
    with django_capture_on_commit_callbacks(execute=True):
        assert ProcessingJob.objects.sweep().sent == jobs.count() == 9
    with memory_broker.connection_for_write() as conn:
        assert conn.default_channel.queue_declare(queue="backfill").message_count == 9
    remote = Asset.objects.filter(owner=owner, processing_status="remote")
    assert remote.count() == 4 and set(jobs.filter(asset__in=remote).values_list("kind", flat=True)) == {"fetch"}
    local = Asset.objects.filter(owner=owner).exclude(processing_status="remote")
    assert sorted(jobs.exclude(asset__in=remote).values_list("kind", flat=True)) == sorted(
        ["thumbnails", "variants", "thumbnails", "variants", "poster"]
    )
    assert all(asset.processing_jobs.exists() for asset in local)


def test_it_adds_nothing_the_second_time_and_only_the_new_rows_the_third(owner, history_path, history, folder):
    first = counts(run(history_path, files_from=folder))
    tables = (Pipeline, Step, Output, Asset, Tag, ImportRecord, ProcessingJob)
    before = {model.__name__: model.objects.count() for model in tables}
    second = counts(run(history_path, files_from=folder))
    assert {model.__name__: model.objects.count() for model in tables} == before
    assert second == {**dict.fromkeys(first, 0), "skipped": 9, "failed": 6}  # the bad rows are still bad
    history.pipeline(name="Made since", steps=[{"outputs": [f"{CDN}/new.png"]}])
    third = counts(run(history_path, files_from=folder))
    assert (third["imported"], third["remote"]) == (1, 1) and Pipeline.objects.count() == before["Pipeline"] + 1


def test_it_recognises_a_moved_copy_even_after_its_first_pipeline_was_deleted(owner, history_path, folder, tmp_path):
    run(history_path, files_from=folder)
    moved = tmp_path / "elsewhere" / "copy.db"
    moved.parent.mkdir()
    shutil.copy(history_path, moved)
    copy = I2vDatabase.sqlite(moved)
    copy.connection.execute("DELETE FROM pipeline_steps WHERE pipeline_id = 1")
    copy.connection.execute("DELETE FROM pipelines WHERE id = 1")
    copy.connection.commit()
    copy.close()
    assert counts(run(moved, files_from=folder))["imported"] == 0
    assert ImportSource.objects.get().label == str(moved.resolve())


def test_it_imports_unfinished_records_as_cancelled_when_asked(owner, history_path, folder):
    counts_ = counts(run(history_path, files_from=folder))
    assert counts_["skipped"] == 2
    again = counts(run(history_path, files_from=folder, include_unfinished=True))
    assert again["imported"] == 2
    going = by_name("Still going")
    assert going.status == "cancelled" and going.steps.get().status == "cancelled"
    assert "Still running in i2v" in going.steps.get().error
    assert by_name("Video: later").status == "cancelled"


def test_it_keeps_unicode_and_html_in_names_as_they_were_and_pages_escape_them(owner, owner_client, history_path, folder):
    run(history_path, files_from=folder)
    html = owner_client.get("/jobs/?hidden=include").content.decode()
    assert "Sunset — 夕焼け ✨" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html and "<script>alert(1)" not in html


def test_it_writes_nothing_on_a_dry_run(owner, history_path, folder, settings):
    summary = run(history_path, files_from=folder, dry_run=True)
    assert summary.startswith("import_i2v, dry run (nothing was written): 7 imported, 2 skipped, 6 failed")
    for model in (Pipeline, Step, Output, Asset, Tag, ImportRecord, ImportSource, ProcessingJob):
        assert not model.objects.exists(), model
    assert not Path(settings.MEDIA_ROOT).exists() and not Path(settings.IMPORT_LOG_DIR).exists()
    assert counts(run(history_path, files_from=folder))["imported"] == 7  # and the real run still does it all


def test_it_fetches_remote_files_with_bounded_concurrency_a_size_cap_and_retries(owner, i2v_db, tmp_path, remote_server, settings):
    settings.REMOTE_FETCH_MAX_BYTES = 50_000
    ok = [remote_server.route(f"/ok/{n}.png", Reply(body=BLUE if n % 2 else RED, delay=0.05)) for n in range(8)]
    flaky = remote_server.route("/flaky.mp4", Reply(503), Reply(500), Reply(body=CLIP))
    gone = remote_server.route("/gone.png", Reply(404))
    huge = remote_server.route("/huge.png", Reply(body=b"\x89PNG" + b"\0" * 60_000, length=False))
    down = remote_server.route("/down.png", Reply(503))
    i2v_db.pipeline(name="Fetched", steps=[{"outputs": [*ok, flaky, gone, huge, down]}])
    summary = run(tmp_path / "wan_jobs.db", fetch_remote=True, concurrency=3)
    assert counts(summary) == {"imported": 1, "skipped": 0, "failed": 0, "stored": 3, "reused": 6, "remote": 1, "files failed": 2}
    assert remote_server.most_in_flight <= 3
    assert remote_server.hits["/flaky.mp4"] == 3 and remote_server.hits["/gone.png"] == 1 and remote_server.hits["/down.png"] == 3
    log = log_of(summary)
    assert "HTTP 404 fetching" in log and "at most 0.0477 MB is fetched" in log
    assets = [o.asset for o in by_name("Fetched").outputs.order_by("position")]
    assert [a.sha256 for a in assets[:8]] == [sha(BLUE) if n % 2 else sha(RED) for n in range(8)]
    assert assets[0].remote_url == ok[0] and assets[8].kind == "video" and assets[8].sha256 == sha(CLIP)
    assert (assets[9].processing_status, assets[9].remote_url) == ("remote", down)  # the background fetch tries later


def test_it_refuses_what_it_cannot_use_with_a_message(owner, history_path, tmp_path, folder):
    bad = [
        ({"owner": "nobody"}, history_path, "No user 'nobody'"),
        ({}, tmp_path / "nowhere.db", "No i2v database at"),
        ({}, folder / "downloads" / "notes.txt", "is not a readable SQLite database"),
        ({"files_from": tmp_path / "nope"}, history_path, "is not a folder"),
        ({"batch": 0}, history_path, "--batch must be between 1 and 1000"),
        ({}, "mysql://root@db/i2v", "Unsupported database URL"),
    ]
    for options, source, message in bad:
        with pytest.raises(CommandError, match=message):
            run(source, **options)
    assert not (tmp_path / "nowhere.db").exists()  # never a new empty database
    assert not Pipeline.objects.exists()


def test_it_isolates_a_record_the_database_refuses(owner, i2v_db, tmp_path):
    i2v_db.pipeline(name="Fine 1")
    i2v_db.pipeline(name="Not a number", steps=[{"config": '{"model": "x", "seed": NaN}'}])
    i2v_db.pipeline(name="Fine 2")
    summary = run(tmp_path / "wan_jobs.db")
    assert counts(summary)["imported"] == 2 and counts(summary)["failed"] == 1
    assert "failed  pipelines #2: the database refused it" in log_of(summary)
    assert sorted(Pipeline.objects.values_list("name", flat=True)) == ["Fine 1", "Fine 2"]


def test_it_reads_an_older_i2v_that_lacked_some_tables_and_columns(owner, tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE pipelines (id INTEGER PRIMARY KEY, name VARCHAR, status VARCHAR, created_at DATETIME, updated_at DATETIME)")
        db.execute("CREATE TABLE pipeline_steps (id INTEGER PRIMARY KEY, pipeline_id INTEGER, step_type VARCHAR, step_order INTEGER, status VARCHAR, outputs TEXT, created_at DATETIME, updated_at DATETIME)")
        db.execute("INSERT INTO pipelines VALUES (1, 'Early days', 'completed', '2024-02-01 10:00:00', '2024-02-01 10:05:00')")
        db.execute(f"""INSERT INTO pipeline_steps VALUES (1, 1, 'i2v', 0, 'completed', '{{"video_urls": ["{CDN}/old.mp4"]}}', '2024-02-01 10:00:00', '2024-02-01 10:04:00')""")
    assert counts(run(path)) == {"imported": 1, "skipped": 0, "failed": 0, "stored": 0, "reused": 0, "remote": 1, "files failed": 0}
    pipeline = by_name("Early days")
    assert (pipeline.mode, pipeline.is_favorite, list(pipeline.tags.all())) == ("manual", False, [])
    assert pipeline.outputs.get().asset.kind == "video"


# --- a real PostgreSQL source ---------------------------------------------------------------


@pytest.fixture
def postgres_source():
    """A scratch PostgreSQL database on the shared server, dropped afterwards."""
    server = os.environ.get("I2V_TEST_POSTGRES_URL") or _server_of_default_database()
    name = f"i2v_import_src_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {server}, and CI must run this test: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {server}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        db = I2vDatabase.postgres(url).create_schema()
        yield db, url
        db.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _server_of_default_database():
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        return f"postgresql://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    return "postgresql://postgres@127.0.0.1:5432/postgres"


def test_it_reads_a_postgresql_source_too(owner, postgres_source, folder):
    db, url = postgres_source
    db.pipeline(name="From PostgreSQL", tags=["PG"], steps=[{"outputs": {"image_urls": ["downloads/red.png", f"{CDN}/pg.png"]}, "cost_actual": "0.1250"}])
    db.pipeline(name="Bad", status="exploded")
    db.insert("jobs", image_url="x", motion_prompt="pg job", wan_status="completed", wan_video_url=f"{CDN}/pg.mp4", created_at=db.tick(), updated_at=db.tick())
    summary = run(url.replace("postgresql://", "postgresql+asyncpg://"), files_from=folder)
    assert counts(summary) == {"imported": 2, "skipped": 0, "failed": 1, "stored": 1, "reused": 0, "remote": 2, "files failed": 0}
    pipeline = by_name("From PostgreSQL")
    assert pipeline.total_cost == Decimal("0.1250") and list(pipeline.tags.values_list("name", flat=True)) == ["pg"]
    assert pipeline.created_at.isoformat() == "2025-01-06T09:37:00+00:00"
    assert ":" not in ImportSource.objects.get().label.split("@")[0].removeprefix("postgresql://")  # no password shown
    assert counts(run(url, files_from=folder))["imported"] == 0


# --- killed half-way, then resumed ----------------------------------------------------------


class Target:
    """The database an import subprocess writes to: the test database itself on
    PostgreSQL (committed, shared), or a migrated SQLite file on the embedded default
    (the in-memory test database can't be shared with another process)."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.media = tmp_path / "media"
        db = connection.settings_dict
        if connection.vendor == "postgresql":
            self.url = f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            self.sqlite = None
        else:
            self.sqlite = tmp_path / "target.sqlite3"
            self.url = f"sqlite:///{self.sqlite}"
            setup = "from django.core.management import call_command; call_command('migrate', verbosity=0); "
            setup += "from django.contrib.auth.models import User; User.objects.create_user('alice')"
            assert self.manage("shell", "-c", setup).returncode == 0

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        return {
            **env, "DATABASE_URL": self.url, "MEDIA_ROOT": str(self.media), "VAR_DIR": str(self.tmp_path / "var"),
            "CELERY_BROKER_URL": "memory://", **extra,
        }  # fmt: skip

    def manage(self, *args, **env):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env(**env), capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip

    def query(self, sql):
        if self.sqlite:
            import sqlite3

            with sqlite3.connect(self.sqlite) as db:
                return db.execute(sql).fetchall()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def count(self, table):
        return self.query(f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.mark.django_db(transaction=True)
def test_it_resumes_after_being_killed_half_way_with_nothing_duplicated_or_missing(i2v_db, tmp_path, folder, django_user_model):
    if connection.vendor == "postgresql":
        django_user_model.objects.create_user("alice")
    for n in range(60):
        local = f"downloads/{['red.png', 'blue.png', 'red-again.png'][n % 3]}"
        i2v_db.pipeline(name=f"Run {n:03d}", tags=[f"week-{n % 4}"], steps=[{"outputs": [local, f"{CDN}/run/{n}.png"]}])
    target = Target(tmp_path)
    source = str(tmp_path / "wan_jobs.db")
    args = ("import_i2v", source, "--owner", "alice", "--files-from", str(folder), "--batch", "10", "-v0")
    killed = target.manage(*args, I2V_TEST_IMPORT_KILL_AT_BATCH="3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert target.count("jobs_pipeline") == 20 and target.count("imports_importrecord") == 20  # two batches committed

    resumed = target.manage(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "40 imported, 20 skipped, 0 failed" in resumed.stdout
    assert target.count("jobs_pipeline") == 60 and target.count("imports_importrecord") == 60
    assert target.query("SELECT COUNT(DISTINCT name) FROM jobs_pipeline")[0][0] == 60
    assert target.count("jobs_step") == 60 and target.count("jobs_output") == 120
    assert target.count("library_asset") == 2 + 60  # red and blue once each, one per URL
    assert target.count("jobs_tag") == 4 and target.count("jobs_pipelinetag") == 60
    assert target.query("SELECT COUNT(*) FROM library_asset a WHERE NOT EXISTS (SELECT 1 FROM media_processing_processingjob j WHERE j.asset_id = a.id)")[0][0] == 0
    stored = sorted(p.name for p in (target.media / "u").rglob("*") if p.is_file())
    assert stored == sorted([f"{sha(RED)}.png", f"{sha(BLUE)}.png"])


def test_it_keeps_the_first_twenty_tags_of_a_pipeline_and_notes_the_rest():
    """A pipeline carries 20 tags at most (jobs.models.MAX_TAGS); an older i2v had no limit."""
    from imports.mapping import parse_tags

    notes = []
    names = parse_tags({"tags": json.dumps([f"tag-{i}" for i in range(25)] + ["tag-3"])}, notes)
    assert names == [f"tag-{i}" for i in range(20)]
    assert notes == ["5 tags dropped past the first 20: tag-20, tag-21, tag-22, tag-23, tag-24"]


@pytest.mark.parametrize("depth", [65, 5000])
def test_it_refuses_json_nested_past_any_real_rows_as_a_bad_row(depth):
    """A damaged column nested thousands deep would exhaust the parser's recursion (and clean_json()'s)."""
    from imports.mapping import BadRow, parse_json

    with pytest.raises(BadRow, match="config is JSON nested more than 64 levels deep"):
        parse_json({"config": "{" + '"a": {' * (depth - 1) + "}" * depth}, "config", (dict,), {})
    with pytest.raises(BadRow, match="outputs is JSON nested more than 64 levels deep"):
        parse_json({"outputs": "[" * depth + "]" * depth}, "outputs", (dict, list), {})
    assert parse_json({"config": "{" + '"a": {' * 63 + "}" * 64}, "config", (dict,), {})  # 64 levels are read
