"""The contract every generation provider passes, against a fake of its API.

test_provider_contract.py runs the same cases for each provider, through the
real executor, poller and webhook view; each provider brings a Harness that
drives its fake server. A case reads only the harness's few verbs, so a new
provider joins the suite by writing its fake and its harness.
"""

from contextlib import contextmanager

from django.utils import timezone

from jobs.models import Step
from jobs.remote import check_due
from jobs.tasks import run_step


class Harness:
    """What a provider's fake must let the contract do. Subclasses fill it in."""

    name = ""
    model = ""  # an image model of this provider
    video_model = ""  # a video model, if it has one
    synchronous = False  # answers the submission with the file
    webhooks = False  # can call us back (PUBLIC_BASE_URL set)
    can_lookup = False  # can find a request whose submission got no answer
    reports_progress = True  # says how far a running request is (a percentage)
    queue_positions = True  # says where a waiting request is in its queue (Replicate only says "starting")

    def __init__(self, fake):
        self.fake = fake

    @classmethod
    @contextmanager
    def started(cls, settings):
        raise NotImplementedError

    def succeed(self, queue=2, progress=(40, 80), video=False):
        """The next request queues `queue` checks, runs through `progress`, then makes a file."""
        raise NotImplementedError

    def fail(self, message):
        """The next request is taken, then fails at the provider with `message`."""
        raise NotImplementedError

    def refuse(self, status, retry_after=None, message="no"):
        """The next submission is answered with HTTP `status` and nothing is started."""
        raise NotImplementedError

    def hang(self, seconds):
        """The next submission is taken but its answer comes `seconds` late."""
        raise NotImplementedError

    def oversized(self, size):
        """The next request's file is `size` bytes."""
        raise NotImplementedError

    def not_an_image(self):
        """The next request's file is an HTML page."""
        raise NotImplementedError

    @property
    def submissions(self):
        return self.fake.submissions

    @property
    def cancelled(self):
        """Provider ids of the requests cancelled at the provider."""
        raise NotImplementedError

    def webhook(self, external_id):
        """(headers, body) of the signed webhook the provider sends for a finished request."""
        raise NotImplementedError


def drive(pipeline, rounds=40):
    """Run the pipeline as workers and the poller would, until nothing is left to do
    now (a step waiting out a backoff stays waiting)."""
    for _ in range(rounds):
        step = pipeline.steps.filter(status=Step.Status.QUEUED, available_at__lte=timezone.now()).order_by("order").first()
        if step is not None:
            run_step.run(step.pk)
            continue
        if not pipeline.steps.filter(status=Step.Status.WAITING).exists():
            break
        _make_due(pipeline)
        check_due()
    pipeline.refresh_from_db()
    return pipeline


def _make_due(pipeline):
    # The poller's next tick, without waiting for it.
    pipeline.requests.filter(next_check_at__isnull=False).update(next_check_at=timezone.now())
