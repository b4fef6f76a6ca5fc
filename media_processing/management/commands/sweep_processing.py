from django.core.management.base import BaseCommand

from media_processing.models import ProcessingJob


class Command(BaseCommand):
    help = (
        "Run the processing sweeper once: re-queue jobs whose lease ran out, send due jobs, "
        "re-send messages the broker lost."
    )

    def handle(self, *args, **options):
        return ProcessingJob.objects.sweep().summary("sweep processing")
