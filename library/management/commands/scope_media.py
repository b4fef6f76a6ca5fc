from django.core.management.base import BaseCommand

from library.legacy import scope_media


class Command(BaseCommand):
    help = (
        "Copy media stored before files had owners (originals/..., r/...) into each owner's folder, once after "
        "upgrading; the old files are then collected. Idempotent: run it again to finish an interrupted run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="change nothing; say what would be moved")
        parser.add_argument("--batch", type=int, default=200, help="assets read per query (default 200)")

    def handle(self, *args, dry_run=False, batch=200, verbosity=1, **options):
        result = scope_media(dry_run=dry_run, batch=batch)
        # -v0 (make run, on every start) says something only when there was something to move.
        return result.summary() if verbosity or result.assets or result.missing else ""
