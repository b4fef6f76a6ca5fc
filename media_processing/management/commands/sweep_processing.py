from django.core.management.base import BaseCommand

from media_processing.models import ProcessingJob


class Command(BaseCommand):
    help = "Run the processing sweeper once: re-queue jobs whose worker died, re-send lost messages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after", type=int, metavar="SECONDS",
            help="a processing job's heartbeat older than this means its worker died "
            "(default PROCESSING_STALE_SECONDS)",
        )  # fmt: skip
        parser.add_argument(
            "--resend-after", type=int, metavar="SECONDS",
            help="a queued job sent longer ago than this, with an empty broker queue, lost its message "
            "(default PROCESSING_RESEND_SECONDS)",
        )

    def handle(self, *args, stale_after=None, resend_after=None, **options):
        return ProcessingJob.objects.sweep(stale_after=stale_after, resend_after=resend_after).summary()
