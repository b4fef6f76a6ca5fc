import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from library.models import Asset
from media_processing.models import ProcessingJob, assets_to_backfill


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
        parser.add_argument("--kind", choices=Asset.Kind.values, help="only images or only videos")
        parser.add_argument("--batch", type=int, default=500, help="assets per transaction (default 500)")

    def handle(self, *args, all=False, kind=None, batch=500, verbosity=1, **options):
        assets = assets_to_backfill(missing=not all, kind=kind)
        total = assets.count()
        everything = Asset.objects.filter(kind=kind).count() if kind else Asset.objects.count()
        with tqdm(total=total, unit="asset", file=sys.stderr, disable=verbosity < 1 or None) as bar:
            queued_assets, queued_jobs = ProcessingJob.objects.backfill(
                assets, force=all, batch=max(batch, 1), progress=bar.update
            )
        scope = f"{kind}s" if kind else "assets"
        what = "every asset" if all else "missing renditions"
        skipped = everything - queued_assets
        return (
            f"backfill ({what}): {queued_assets} {scope} queued ({queued_jobs} jobs) on the backfill queue, "
            f"{skipped} skipped (complete, or already queued)"
        )
