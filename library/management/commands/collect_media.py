from django.core.management.base import BaseCommand

from library import collector


class Command(BaseCommand):
    help = (
        "Delete stored media files that no asset references any more (files of deleted assets, and with --scan "
        "every unreferenced file in the storage, after MEDIA_GC_GRACE_SECONDS). Beat runs it periodically."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="change nothing; say what would be deleted")
        parser.add_argument(
            "--scan", action="store_true",
            help="list the whole storage first and hand every unreferenced file to the collector "
            "(deleted after the grace period if still unreferenced then)",
        )  # fmt: skip

    def handle(self, *args, dry_run=False, scan=False, **options):
        return collector.collect(dry_run=dry_run, scan=scan).summary()
