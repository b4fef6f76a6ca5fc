from django.core.management.base import BaseCommand

from jobs.models import Step


class Command(BaseCommand):
    help = "Run the step sweeper once: re-queue steps whose lease ran out, send due steps, re-send lost messages."

    def handle(self, *args, **options):
        return Step.objects.sweep().summary("sweep steps")
