from io import StringIO

import pytest
from django.core.management import call_command

from conftest import make_asset
from media_processing.models import ProcessingJob

from .conftest import queue_job


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
