from django.core.management.base import BaseCommand

from jobs.models import Step


class Command(BaseCommand):
    help = "Run the step sweeper once: re-queue steps whose worker died, re-send lost messages."

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, metavar="SECONDS", help="default GENERATION_STALE_SECONDS")
        parser.add_argument("--resend-after", type=int, metavar="SECONDS", help="default GENERATION_RESEND_SECONDS")

    def handle(self, *args, stale_after=None, resend_after=None, **options):
        return Step.objects.sweep_stale(stale_after=stale_after, resend_after=resend_after).summary()
