"""run_job, called synchronously: what each kind of job makes, retries with
backoff, readable failures, and idempotence."""

import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import F
from django.utils import timezone
from PIL import Image

from i2v.lib.filters import TextSignature, signature_words
from library import parameters
from library.models import Asset, Tombstone
from library.tests.files import png_with_chunks, png_with_parameters
from media_processing import thumbhash, work
from i2v.lib.workqueue import Superseded
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job
from prompts.models import PROMPT_MAX_CHARS

from .conftest import encoded, picture, queue_job, stored_asset, tiny_mp4


def opened(asset, key):
    with default_storage.open(asset.renditions[key]["name"]) as f:
        image = Image.open(f)
        image.load()
    return image


def mtimes(asset):
    return {key: os.stat(default_storage.path(entry["name"])).st_mtime_ns for key, entry in asset.renditions.items()}


def make_runnable(job):
    """Let a job that is waiting out its backoff run now, as time passing would."""
    ProcessingJob.objects.filter(pk=job.pk).update(available_at=timezone.now())


@pytest.fixture
def photo(owner):
    """A camera JPEG stored sideways (orientation 6) with the usual EXIF."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon\x00"
    exif[0x0110] = "EOS R5"
    exif[0x8825] = {1: "N"}  # GPS: never copied onto the asset
    exif.get_ifd(0x8769)[0x9003] = "2024:03:02 10:11:12"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    return stored_asset(owner, encoded(picture((800, 400)), exif=exif))


def test_it_makes_thumbnails_exif_and_a_thumbhash_from_one_job(photo):
    job = queue_job(photo)

    assert run_job.run(job.pk) == "completed"

    job.refresh_from_db()
    photo.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("completed", 1, "")
    assert job.started_at and job.completed_at
    assert (photo.processing_status, photo.thumbnail_status) == ("complete", "complete")
    assert photo.variant_status == "pending", "variants are the other job's"
    assert (photo.width, photo.height) == (400, 800), "the displayed size, after the EXIF rotation"
    assert {k: (e["w"], e["h"]) for k, e in photo.renditions.items()} == {"600": (300, 600), "300": (150, 300), "150": (75, 150)}
    top, bottom = opened(photo, "600").getpixel((150, 100)), opened(photo, "600").getpixel((150, 500))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0], "the red half is on top once rotated"
    assert photo.exif == {"make": "Canon", "model": "EOS R5", "orientation": 6, "datetime_original": "2024:03:02 10:11:12", "offset_time_original": "+02:00"}
    assert photo.taken_at == datetime(2024, 3, 2, 8, 11, 12, tzinfo=UTC)
    assert thumbhash.to_image(photo.thumbhash).height > thumbhash.to_image(photo.thumbhash).width
    assert photo.attempts == 1


def test_it_takes_the_exif_time_as_utc_without_an_offset(owner):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2020:01:31 23:59:58"
    asset = stored_asset(owner, encoded(picture(), exif=exif))

    run_job.run(queue_job(asset).pk)

    asset.refresh_from_db()
    assert asset.taken_at == datetime(2020, 1, 31, 23, 59, 58, tzinfo=UTC)


def test_it_makes_display_variants_that_fit_1080p_and_4k(owner):
    asset = stored_asset(owner, encoded(picture((4800, 3200)), quality=80))
    job = queue_job(asset, kind="variants", queue="variants")

    assert run_job.run(job.pk) == "completed"

    asset.refresh_from_db()
    assert (asset.renditions["2160"]["w"], asset.renditions["2160"]["h"]) == (3240, 2160)
    assert (asset.renditions["1080"]["w"], asset.renditions["1080"]["h"]) == (1620, 1080)
    assert opened(asset, "2160").size == (3240, 2160), "decoded from a draft big enough for 4K"
    assert asset.variant_status == "complete"
    assert asset.processing_status == "pending", "a variant says nothing about the thumbnails"


def test_it_never_upscales_a_variant(owner):
    asset = stored_asset(owner, encoded(picture((900, 1200))))

    run_job.run(queue_job(asset, kind="variants", queue="variants").pk)

    asset.refresh_from_db()
    assert (asset.renditions["1080"]["w"], asset.renditions["1080"]["h"]) == (900, 1200)
    assert asset.renditions["1080"]["name"] == asset.renditions["2160"]["name"], "same bytes, one file"


def test_it_merges_renditions_of_both_jobs(owner):
    asset = stored_asset(owner, encoded(picture()))
    variants = queue_job(asset, kind="variants", queue="variants")
    thumbs = queue_job(asset)

    run_job.run(variants.pk)
    run_job.run(thumbs.pk)

    asset.refresh_from_db()
    assert sorted(asset.renditions, key=int) == ["150", "300", "600", "1080", "2160"]


def test_it_makes_a_video_poster_from_the_first_frame(owner):
    asset = stored_asset(owner, tiny_mp4(), ext="mp4", kind="video")
    job = queue_job(asset, kind="poster")

    assert run_job.run(job.pk) == "completed"

    asset.refresh_from_db()
    assert (asset.width, asset.height) == (96, 64)
    assert asset.duration == pytest.approx(0.5, abs=0.1)
    assert (asset.processing_status, asset.thumbnail_status) == ("complete", "complete")
    assert set(asset.renditions) == {"150", "300", "600"}
    r, g, b = opened(asset, "150").getpixel((40, 30))
    assert g > 120 and r < 60 and b < 60, "the poster is the green frame"
    assert asset.thumbhash


def test_it_runs_a_job_once_when_its_message_comes_twice(owner):
    job = queue_job(stored_asset(owner, encoded(picture())))

    assert run_job.run(job.pk) == "completed"
    assert run_job.run(job.pk) == "skipped"

    job.refresh_from_db()
    assert job.attempts == 1


def test_it_redoes_nothing_already_saved_when_a_job_runs_again(owner):
    # A worker killed after saving the renditions but before marking the job
    # complete: the sweeper queues the job again, and the next run finds it done.
    asset = stored_asset(owner, encoded(picture()))
    job = queue_job(asset)
    run_job.run(job.pk)
    asset.refresh_from_db()
    before, renditions = mtimes(asset), asset.renditions
    ProcessingJob.objects.filter(pk=job.pk).update(status="queued")

    assert run_job.run(job.pk) == "completed"

    asset.refresh_from_db()
    assert asset.renditions == renditions
    assert mtimes(asset) == before, "no file was written again"
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("completed", 2)


def test_it_fills_in_a_missing_thumbhash_from_the_small_rendition(owner):
    asset = stored_asset(owner, encoded(picture()))
    run_job.run(queue_job(asset).pk)
    asset.refresh_from_db()
    expected = asset.thumbhash
    asset.__class__.objects.filter(pk=asset.pk).update(thumbhash="")

    run_job.run(queue_job(asset).pk)

    asset.refresh_from_db()
    assert asset.thumbhash, "made again from the stored 150 px JPEG"
    again, first = thumbhash.average_rgb(asset.thumbhash), thumbhash.average_rgb(expected)
    assert all(abs(a - b) <= 8 for a, b in zip(again, first)), (again, first)


A1111 = "a giraffe in a top hat, <b>bold</b> & proud\nNegative prompt: blurry\nSteps: 28, Seed: 1234, Model: sdxl"


def test_it_copies_the_prompt_inside_an_uploaded_png_so_the_library_search_finds_it(owner):
    asset = stored_asset(owner, png_with_parameters(A1111), ext="png")
    assert not Asset.objects.filtered(q="giraffe").exists()

    assert run_job.run(queue_job(asset).pk) == "completed"

    asset.refresh_from_db()
    assert asset.prompt == "a giraffe in a top hat, <b>bold</b> & proud", "the positive prompt only, as written"
    assert list(Asset.objects.filtered(q="giraffe")) == [asset]
    assert list(Asset.objects.filtered(q="TOP HAT")) == [asset]
    assert not Asset.objects.filtered(q="blurry").exists(), "not the negative prompt"
    if connection.vendor == "postgresql":  # its trigger kept the signature a walk tests in step (migration 0028)
        assert list(Asset.objects.filter(TextSignature(signature_words("a top hat")))) == [asset]


def test_it_copies_the_prompt_when_the_renditions_exist_already(owner):
    # The backfill of uploads from before (backfill_renditions --prompts) queues their thumbnails
    # job, which then only fills in what is missing.
    asset = stored_asset(owner, png_with_parameters(A1111), ext="png")
    run_job.run(queue_job(asset).pk)
    asset.refresh_from_db()
    before, renditions = mtimes(asset), asset.renditions
    Asset.objects.filter(pk=asset.pk).update(prompt="")

    assert run_job.run(queue_job(asset).pk) == "completed"

    asset.refresh_from_db()
    assert asset.prompt.startswith("a giraffe in a top hat")
    assert (asset.renditions, mtimes(asset)) == (renditions, before), "nothing rendered again"


def test_it_never_replaces_a_prompt_already_set(owner, monkeypatch):
    generated = stored_asset(owner, png_with_parameters(A1111), ext="png", source="generated")
    Asset.objects.filter(pk=generated.pk).update(prompt="what the step was asked")
    upload = stored_asset(owner, png_with_parameters(A1111.replace("giraffe", "zebra")), ext="png")
    run_job.run(queue_job(generated).pk)
    render = work.render_original

    def render_while_a_person_types(asset):  # set after the job loaded its asset
        Asset.objects.filter(pk=asset.pk).update(prompt="typed by a person")
        return render(asset)

    monkeypatch.setattr(work, "render_original", render_while_a_person_types)
    assert run_job.run(queue_job(upload).pk) == "completed"

    assert Asset.objects.get(pk=generated.pk).prompt == "what the step was asked"
    assert Asset.objects.get(pk=upload.pk).prompt == "typed by a person"
    assert not Asset.objects.filtered(q="zebra").exists()


def test_it_leaves_the_prompt_empty_for_a_file_without_parameters(owner):
    asset = stored_asset(owner, encoded(picture()))

    run_job.run(queue_job(asset).pk)

    asset.refresh_from_db()
    assert (asset.prompt, asset.processing_status) == ("", "complete")


def text(body, kind=b"tEXt"):
    return png_with_chunks((kind, b"parameters\x00" + body))


@pytest.mark.parametrize(
    "data, prompt",
    [
        # Longer than any prompt a provider takes: cut where a generated asset's would be.
        (text(b"giraffe " + b"x" * 2_400_000 + b"\nSteps: 2, Seed: 3"), "giraffe " + "x" * (PROMPT_MAX_CHARS - 8)),
        (text(b"a gir\x00affe\x00 at dusk\x07\nSteps: 2, Seed: 3"), "a giraffe at dusk"),  # NULs: no text column holds one
        (text(b"<script>alert(1)</script> giraffe"), "<script>alert(1)</script> giraffe"),  # escaped where shown
        (text(b"\x00\x00\x00\x00a giraffe \xed\xa0\x80", b"iTXt"), ""),  # a surrogate's UTF-8: not text
        (text(b"a giraffe \\ud800\nSteps: 2, Seed: \"\\ud800\""), "a giraffe \\ud800"),  # an escape, kept as written
        (text(b"\x01\x00\x00\x00not zlib", b"iTXt"), ""),  # compressed, but not
        (text(b"\x00not zlib", b"zTXt"), ""),
        (png_with_chunks((b"tEXt", b"parametersgiraffe")), ""),  # no separator
        (png_with_chunks((b"tEXt", b"\x00giraffe")), ""),  # no key
        (text(b"\n\n \t\nSteps: 2, Seed: 3"), ""),  # settings, no prompt
    ],
)
def test_it_copies_a_hostile_files_prompt_safely_and_completes(owner, data, prompt):
    asset = stored_asset(owner, data, ext="png")

    assert run_job.run(queue_job(asset).pk) == "completed"

    asset.refresh_from_db()
    assert (asset.prompt, asset.processing_status, asset.last_error) == (prompt, "complete", "")


def test_it_drops_a_lone_surrogate_a_reader_hands_it(owner, monkeypatch):
    # Pillow decodes strictly, but no reader is trusted: a string with one can't be stored.
    monkeypatch.setattr(parameters, "_text_of", lambda im: "a gir\ud800affe\nSteps: 2, Seed: 3")
    asset = stored_asset(owner, encoded(picture()))

    assert run_job.run(queue_job(asset).pk) == "completed"

    assert Asset.objects.get(pk=asset.pk).prompt == "a giraffe"


def test_it_redoes_everything_when_forced(owner):
    asset = stored_asset(owner, encoded(picture()))
    run_job.run(queue_job(asset).pk)
    default_storage.delete(asset.__class__.objects.get(pk=asset.pk).renditions["150"]["name"])

    run_job.run(queue_job(asset, force=True).pk)

    asset.refresh_from_db()
    assert default_storage.exists(asset.renditions["150"]["name"])


def test_it_retries_a_storage_failure_with_exponential_backoff(owner, broker, monkeypatch):
    asset = stored_asset(owner, encoded(picture()))
    job = queue_job(asset)
    monkeypatch.setattr("django.db.models.fields.files.FieldFile.open", lambda *a, **k: (_ for _ in ()).throw(PermissionError("mount gone")))
    delays = []
    for attempt in (1, 2):
        started = timezone.now()
        assert run_job.run(job.pk) == "failed"
        job.refresh_from_db()
        assert (job.status, job.attempts, job.sent_at) == ("queued", attempt, None)
        delays.append((job.available_at - started).total_seconds())
        assert broker.take("thumbnails") == [], "no countdown message: the sweeper sends it when due"
        make_runnable(job)

    assert delays[0] == pytest.approx(10, abs=1) and delays[1] == pytest.approx(40, abs=1)
    assert job.error.startswith("The storage could not open the original")
    asset.refresh_from_db()
    assert asset.processing_status == "processing", "still being retried"
    assert asset.last_error == job.error


def test_it_fails_a_corrupt_original_at_once_with_a_readable_error(owner, broker):
    truncated = encoded(picture((1200, 900)))[:3000]
    asset = stored_asset(owner, truncated)
    job = queue_job(asset)

    assert run_job.run(job.pk) == "failed"

    job.refresh_from_db()
    asset.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 1), "a file that can't be decoded is not tried again"
    assert job.error == "The original image is truncated: its data ends before the picture does."
    assert "Traceback" not in job.error and len(job.error) < 500
    assert job.failed_at
    assert (asset.processing_status, asset.thumbnail_status) == ("failed", "failed")
    assert asset.last_error == job.error
    assert run_job.run(job.pk) == "skipped", "nothing runs it again until a person retries"
    assert broker.take("thumbnails") == []


def test_it_names_a_file_that_is_not_an_image(owner):
    job = queue_job(stored_asset(owner, b"GIF89a but not really"), max_attempts=1)

    run_job.run(job.pk)

    job.refresh_from_db()
    assert job.error == "The original is not an image this server can read (corrupt or unsupported format)."


def test_it_names_a_damaged_video(owner):
    job = queue_job(stored_asset(owner, tiny_mp4()[:200], ext="mp4", kind="video"), kind="poster", max_attempts=1)

    run_job.run(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("The video")


def test_it_keeps_a_usable_thumbnail_when_variants_fail(owner):
    asset = stored_asset(owner, encoded(picture()))
    run_job.run(queue_job(asset).pk)
    default_storage.delete(asset.original.name)
    job = queue_job(asset, kind="variants", queue="variants", max_attempts=1)

    run_job.run(job.pk)

    job.refresh_from_db()
    asset.refresh_from_db()
    assert job.status == "failed"
    assert job.error == f"The original file ({asset.original.name}) is missing from storage."
    assert (asset.processing_status, asset.thumbnail_status, asset.variant_status) == ("complete", "complete", "failed")
    assert asset.last_error == job.error


def test_it_waits_out_the_backoff_when_a_message_comes_early(owner):
    job = queue_job(stored_asset(owner, encoded(picture())), available_at=timezone.now() + timedelta(seconds=30))

    assert run_job.run(job.pk) == "skipped"

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)
    assert job.sent_at is None, "no message in flight: the sweeper sends one when it may run"


def test_it_stops_writing_once_the_sweeper_handed_its_job_on(owner):
    job = queue_job(stored_asset(owner, encoded(picture())))
    mine = ProcessingJob.objects.claim(job.pk)
    # The sweeper thought this run dead and another worker claimed the job.
    ProcessingJob.objects.filter(pk=job.pk).update(attempts=2, run=F("run") + 1)

    assert mine.renew_lease() is False
    mine.heartbeat_at = timezone.now() - timedelta(seconds=settings.WORK_HEARTBEAT_SECONDS)  # time for a renewal
    with pytest.raises(Superseded):
        mine.checkpoint()
    assert mine.complete() is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("processing", 2)


def test_it_stops_quietly_when_its_asset_is_deleted_meanwhile_and_leaves_its_files_to_the_collector(owner, monkeypatch, caplog):
    asset = stored_asset(owner, encoded(picture()))
    job = queue_job(asset)
    made = {}

    def render_then_deleted(rendered):
        result = real_render(rendered)
        made.update(rendered.renditions)
        Asset.objects.filter(pk=rendered.pk).delete_in_bulk()  # a person deletes it before the run records
        return result

    real_render = work.render_original
    monkeypatch.setattr(work, "render_original", render_then_deleted)

    assert run_job.run(job.pk) == "superseded"

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(made) == 3
    assert set(Tombstone.objects.values_list("name", flat=True)) >= {entry["name"] for entry in made.values()}
    assert not ProcessingJob.objects.filter(pk=job.pk).exists()


def test_it_fails_a_jpeg_cut_short_and_closed_instead_of_painting_it_grey(owner):
    # A header scan finds its end marker, libjpeg paints the missing 60 % grey with a warning:
    # the worker must call it what it is.
    from library.tests.files import jpeg_cut_and_closed

    job = queue_job(stored_asset(owner, jpeg_cut_and_closed()), max_attempts=1)
    run_job.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "The original image is truncated: its data ends before the picture does.")
    assert job.asset.renditions == {}


@pytest.mark.parametrize("make", ["jpeg_with_junk_in_its_header", "jpeg_with_a_broken_photoshop_segment", "jpeg_with_a_truncated_app14"])
def test_it_renders_jpegs_whose_damaged_headers_pillow_reads_past(owner, make):
    from library.tests import files

    job = queue_job(stored_asset(owner, getattr(files, make)()))
    run_job.run(job.pk)
    job.refresh_from_db()
    job.asset.refresh_from_db()
    assert job.status == "completed", job.error
    assert (job.asset.width, job.asset.height) == (400, 300) and job.asset.renditions["150"]["w"] == 150
