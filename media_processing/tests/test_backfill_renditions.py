from io import StringIO

import pytest
from django.core.management import call_command

from conftest import make_asset
from library.models import Asset
from library.tests.files import png, png_with_parameters
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

from .conftest import queue_job, stored_asset


@pytest.fixture
def library(owner):
    """Assets in every state a backfill meets."""
    complete = make_asset(owner)
    complete.renditions.update({"1080": complete.renditions["600"], "2160": complete.renditions["600"]})
    complete.save()
    busy = make_asset(owner, renditions=False)
    queue_job(busy)
    return {
        "complete": complete,
        "no_variants": make_asset(owner),  # thumbnails from before variants existed
        "nothing": make_asset(owner, renditions=False),
        "video": make_asset(owner, kind="video", renditions=False),
        "busy": busy,
    }


def backfill(*args, capture=None):
    out = StringIO()
    with capture(execute=True):
        call_command("backfill_renditions", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def queued(asset):
    return sorted(ProcessingJob.objects.filter(asset=asset, queue="backfill").values_list("kind", flat=True))


def test_it_queues_missing_work_on_the_backfill_queue(library, broker, django_capture_on_commit_callbacks):
    summary = backfill(capture=django_capture_on_commit_callbacks)

    assert summary == (
        "backfill (missing renditions): 3 assets queued (4 jobs) on the backfill queue, "
        "2 skipped (complete, or already queued)"
    )
    assert queued(library["no_variants"]) == ["variants"]
    assert queued(library["nothing"]) == ["thumbnails", "variants"]
    assert queued(library["video"]) == ["poster"]
    assert queued(library["complete"]) == queued(library["busy"]) == []
    jobs = ProcessingJob.objects.filter(queue="backfill")
    assert {(j.priority, j.force, j.status) for j in jobs} == {(9, False, "queued")}
    assert sorted(broker.job_ids("backfill")) == sorted(j.pk for j in jobs), "every job's message sent"


def test_it_can_be_run_again_without_queueing_twice(library, django_capture_on_commit_callbacks):
    backfill(capture=django_capture_on_commit_callbacks)

    summary = backfill("--missing", capture=django_capture_on_commit_callbacks)

    assert summary.startswith("backfill (missing renditions): 0 assets queued (0 jobs)")
    assert ProcessingJob.objects.filter(queue="backfill").count() == 4


def test_it_redoes_everything_with_all(library, django_capture_on_commit_callbacks):
    summary = backfill("--all", capture=django_capture_on_commit_callbacks)

    assert summary.startswith("backfill (every asset): 4 assets queued (7 jobs)")
    assert queued(library["complete"]) == ["thumbnails", "variants"]
    assert set(ProcessingJob.objects.filter(queue="backfill").values_list("force", flat=True)) == {True}
    assert queued(library["busy"]) == [], "work already on its way is not doubled"


def test_it_takes_one_kind(library, django_capture_on_commit_callbacks):
    summary = backfill("--kind", "video", capture=django_capture_on_commit_callbacks)

    assert summary.startswith("backfill (missing renditions): 1 videos queued (1 jobs)")
    assert queued(library["video"]) == ["poster"]


@pytest.fixture
def uploads(owner):
    """Uploads from before their prompts were read (rendered, prompt blank), and what the backfill of
    prompts leaves alone."""

    def rendered(data, **fields):
        asset = stored_asset(owner, data, ext="png", source=fields.pop("source", "upload"))
        run_job(queue_job(asset).pk)
        run_job(queue_job(asset, kind="variants", queue="variants").pk)
        Asset.objects.filter(pk=asset.pk).update(**{"prompt": "", **fields})
        return asset

    busy = rendered(png_with_parameters("a zebra\nSteps: 20, Seed: 42"))
    queue_job(busy)
    return {
        "carrying": rendered(png_with_parameters("a giraffe in a top hat\nSteps: 20, Seed: 42")),
        "plain": rendered(png()),
        "no_variants": rendered(png(colour=(1, 2, 3)), renditions={}),
        "typed": rendered(png(colour=(4, 5, 6)), prompt="typed"),
        "generated": rendered(png(colour=(7, 8, 9)), source="generated"),
        "remote": make_remote(owner),
        "video": rendered(png(colour=(9, 9, 9)), kind="video"),
        "busy": busy,
    }


def make_remote(owner):
    return Asset.objects.create(owner=owner, source="upload", remote_url="https://cdn.example/a.png", processing_status="remote")


def test_it_queues_the_uploads_whose_files_may_hold_a_prompt_unsent(uploads, broker, sweep, django_capture_on_commit_callbacks):
    summary = backfill("--prompts", capture=django_capture_on_commit_callbacks)

    assert summary == (
        "backfill (prompts in uploaded files): 3 images queued (4 jobs) on the backfill queue, "
        "4 skipped (generated, with a prompt, or already queued)"
    )
    assert queued(uploads["carrying"]) == queued(uploads["plain"]) == ["thumbnails"]
    assert queued(uploads["no_variants"]) == ["thumbnails", "variants"]
    for name in ("typed", "generated", "remote", "video", "busy"):
        assert queued(uploads[name]) == [], name
    jobs = ProcessingJob.objects.filter(queue="backfill")
    assert {(j.priority, j.force, j.sent_at) for j in jobs} == {(9, False, None)}
    assert broker.job_ids("backfill") == [], "left to the sweeper: a million would wait in their rows"

    sweep()
    for job_id in broker.job_ids("backfill"):
        assert run_job(job_id) == "completed"

    assert Asset.objects.get(pk=uploads["carrying"].pk).prompt == "a giraffe in a top hat"
    assert list(Asset.objects.filtered(q="giraffe")) == [uploads["carrying"]]
    assert Asset.objects.get(pk=uploads["typed"].pk).prompt == "typed"
    assert Asset.objects.get(pk=uploads["no_variants"].pk).renditions.keys() >= {"1080", "2160"}
    again = backfill("--prompts", capture=django_capture_on_commit_callbacks)
    # Those whose files hold none are visited again (nothing records that a file was read); not the one found.
    assert again.startswith("backfill (prompts in uploaded files): 2 images queued (2 jobs)")
    assert len(queued(uploads["plain"])) == 2 and len(queued(uploads["carrying"])) == 1


def test_it_refuses_prompts_with_missing_or_all(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("backfill_renditions", "--prompts", "--all")


def test_it_refuses_prompts_of_videos_and_queues_nothing(uploads):
    from django.core.management.base import CommandError

    before = ProcessingJob.objects.count()
    with pytest.raises(CommandError, match="none to read in videos"):
        call_command("backfill_renditions", "--prompts", "--kind", "video")
    assert ProcessingJob.objects.count() == before


def test_it_works_in_batches(owner, django_capture_on_commit_callbacks):
    assets = [make_asset(owner, renditions=False) for _ in range(5)]

    backfill("--batch", "2", capture=django_capture_on_commit_callbacks)

    assert all(queued(asset) == ["thumbnails", "variants"] for asset in assets)


def test_it_refuses_missing_and_all_together(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("backfill_renditions", "--missing", "--all")


class Terminal(StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream", [StringIO, Terminal])
def test_it_shows_its_progress_as_a_bar_on_a_terminal_and_lines_in_a_pipe(owner, stream, django_capture_on_commit_callbacks):
    for _ in range(5):
        make_asset(owner, renditions=False)
    err = stream()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("backfill_renditions", "--batch", "2", stdout=StringIO(), stderr=err)

    if stream is Terminal:
        assert "\r" in err.getvalue() and "100%|" in err.getvalue() and "| 5/5 " in err.getvalue(), err.getvalue()
    else:
        lines = err.getvalue().splitlines()
        assert lines[0] == "backfill: 5 assets to visit"
        assert lines[-1].startswith("backfill: 5/5 assets visited in ")
        assert "\r" not in err.getvalue()


def test_it_is_silent_at_verbosity_0(owner, django_capture_on_commit_callbacks):
    make_asset(owner, renditions=False)
    err = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("backfill_renditions", verbosity=0, stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""
