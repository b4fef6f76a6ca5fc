import shutil
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from library.models import Asset
from media_processing.models import ProcessingJob, assets_to_backfill, prompt_work, uploads_without_prompt


class Command(BaseCommand):
    help = (
        "Queue rendition work for existing assets on the backfill queue (which never delays fresh uploads). "
        "Resumable: assets with work already queued or running are skipped, so run it again after an interruption."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="only assets with renditions missing (the default)")
        which.add_argument(
            "--all", action="store_true", help="redo every asset's renditions, e.g. after a spec changed"
        )
        which.add_argument(
            "--prompts", action="store_true",
            help="uploaded images with no prompt: read the prompt inside each file (A1111 parameters) for the "
            "Library's search, and make any renditions missing (images only; the jobs are sent by the sweeper)",
        )  # fmt: skip
        parser.add_argument("--kind", choices=Asset.Kind.values, help="only images or only videos")
        parser.add_argument("--batch", type=int, default=500, help="assets per transaction (default 500)")

    def handle(self, *args, all=False, prompts=False, kind=None, batch=500, verbosity=1, **options):
        if prompts and kind == Asset.Kind.VIDEO:
            raise CommandError("--prompts reads the prompts inside uploaded images; there are none to read in videos.")
        if prompts:
            # Every upload with no prompt gets a job (most files carry none, and nothing records that one was
            # read): left unsent, as import_i2v leaves its own, for the sweeper to send WORK_SWEEP_LIMIT a sweep
            # on the backfill queue, rather than this command a million at once.
            assets, kind, queueing = uploads_without_prompt(), Asset.Kind.IMAGE, {"work": prompt_work, "send": False}
        else:
            assets, queueing = assets_to_backfill(missing=not all, kind=kind), {"force": all}
        total = assets.count()
        everything = Asset.objects.filter(kind=kind).count() if kind else Asset.objects.count()
        with progress(total, options.get("stderr") or sys.stderr, verbosity) as bar:
            queued_assets, queued_jobs = ProcessingJob.objects.backfill(
                assets, batch=max(batch, 1), progress=bar.update, **queueing
            )
        scope = f"{kind}s" if kind else "assets"
        what = "prompts in uploaded files" if prompts else "every asset" if all else "missing renditions"
        skipped = everything - queued_assets
        why = "generated, with a prompt, or already queued" if prompts else "complete, or already queued"
        return (
            f"backfill ({what}): {queued_assets} {scope} queued ({queued_jobs} jobs) on the backfill queue, "
            f"{skipped} skipped ({why})"
        )


def progress(total, stream, verbosity):
    """A tqdm bar on a terminal; piped (to a log, `tee`), plain lines instead of a bar
    redrawn with carriage returns, which a log shows as one endless line."""
    if verbosity >= 1 and stream.isatty():
        # A terminal that reports no size (0 x 0: `script`, some `docker exec` sessions) reads as -1 x -1 to tqdm,
        # which then hides its only bar as below the last row; shutil falls back to 80 x 24 there.
        size = shutil.get_terminal_size()
        return tqdm(total=total, unit="asset", file=stream, ncols=min(size.columns, 120), nrows=size.lines)
    return Lines(total, stream if verbosity >= 1 else None)


class Lines:
    """Progress as a line every `every` seconds, and one at the end."""

    def __init__(self, total, stream, every=5.0):
        self.total, self.stream, self.every, self.done = total, stream, every, 0
        self.started = self.last = time.monotonic()
        self.say(f"backfill: {total} assets to visit")

    def say(self, text):
        if self.stream:
            print(text, file=self.stream, flush=True)

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            self.say(f"backfill: {self.done}/{self.total} assets ({self.done * 100 // max(self.total, 1)}%, {rate:.0f}/s)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.say(f"backfill: {self.done}/{self.total} assets visited in {time.monotonic() - self.started:.1f} s")
