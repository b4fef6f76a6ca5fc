"""What a worker does with a step it claimed: submit it, or fetch its result.

Neither waits on a provider. A submission is one call: the provider takes the
request (the step then waits at the provider, no worker holding it), refuses
it (nothing was started: backoff, or Retry-After for a 429), or leaves its
fate unknown (never sent again by itself: jobs/remote.py). Synchronous
providers answer with the file, which is stored at once, or with FAILED when
the answer was billed but its file refused (its cost is recorded all the
same). A fetch downloads the finished file, its lease renewed as the bytes
arrive.

The RemoteRequest row is written before the call leaves (state `sending`) and
after the answer, in one transaction with the step's move, tried again while
the database is away; jobs/remote.py keeps the rest of its life. A run first
takes up whatever an earlier run of its step sent (Step.take_up_sent()), so a
database failure after the provider took a request never sends it twice.
"""

import logging
from copy import copy

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from i2v.lib.outage import wait_for_database
from i2v.lib.workqueue import Superseded, Unrecorded, pause_for_tests
from prompts import enhance

from .models import Pipeline, Step
from .providers import Job, OutcomeUnknown, ProviderError, RateLimited, get_provider
from .providers.base import FAILED
from .remote import RemoteRequest, settings_for

logger = logging.getLogger(__name__)


def run(step):
    """The work of a claimed step; a word for the log."""
    if step.kind == Step.Kind.PROMPT_ENHANCE:
        return enhance.run(step)
    if step.phase == Step.Phase.FETCH:
        return fetch(step)
    return submit(step)


def submit(step):
    # A request an earlier run sent is never sent again by itself: what it left is taken up instead.
    left = step.take_up_sent()
    if left:
        return left
    provider = get_provider(step.model_name)
    provider.require_kind(step.kind)
    options = settings_for(step)
    request = RemoteRequest.objects.open(step, provider, options)
    if request is None:
        # Every place at this provider account is taken: the dispatcher sends it when one frees.
        step.defer(settings.GENERATION_PLACE_WAIT_SECONDS, f"Waiting for a free place at {provider.label}.")
        return "waiting for a place"
    job = Job(
        model=step.model_name, kind=step.kind, prompt=step.prompt, options=options, source=step.source_bytes,
        token=request.token, webhook_url=request.webhook_url if provider.webhooks else None, progress=step.beat,
    )  # fmt: skip
    try:
        remote = provider.submit(job)
    except RateLimited as error:
        request.refused(error.message)
        wait = error.retry_after if error.retry_after is not None else settings.GENERATION_RATE_LIMIT_WAIT_SECONDS
        step.defer(min(wait, 3600), error.message)
        return "rate limited"
    except OutcomeUnknown as error:
        step.submission_lost(request, error.message)
        return "outcome unknown"
    except (ProviderError, Superseded) as error:
        # Not taken (or stopped before it was sent): nothing was started, nothing billed.
        request.refused(getattr(error, "message", "Stopped before it was sent."))
        raise
    except Exception:
        # Something of ours broke mid-call: the request may have left. A paid one is
        # treated as unknown, never resent by itself; the free local one as refused.
        if provider.name == "local":
            request.refused("An internal error stopped it.")
            raise
        step.submission_lost(request, "An internal error interrupted the submission; the provider may have it.")
        logger.exception("submitting %s to %s failed unexpectedly", step, provider.name)
        return "outcome unknown"
    pause_for_tests(step)  # the real-worker tests die here: answered, not yet recorded
    try:
        # Each try starts from the rows as this run knew them: a try the database undid may have changed them in memory.
        return wait_for_database(lambda: _record(copy(step), copy(request), remote, provider))
    except Exception as exc:
        # The provider has it, and may bill it: nothing here may hand the step back as if nothing was sent. It
        # is left as it is, its request `sending`, and the sweeper takes it up once the lease runs out.
        raise Unrecorded(f"{provider.label} took the request, but its answer could not be recorded") from exc


def _record(step, request, remote, provider):
    """Write down what the provider answered to a submission it took: all or nothing, so a database
    failure leaves the request `sending` (an unknown outcome, taken up by Step.take_up_sent()) and
    never a request answered under a step that looks unsent. Tried again while the database is away."""
    now = timezone.now()
    with transaction.atomic():
        Pipeline.objects.lock(step.pipeline_id)  # before the step's row, as every writer of its steps
        request.accepted(remote)
        if remote.state == FAILED:
            # Synchronous: the provider ran it and billed it, but what it sent back can't be
            # used (not an image, too big). Its cost is recorded; only a person runs it again.
            message = remote.error or f"{provider.label} answered with nothing usable."
            request._save(state=RemoteRequest.State.FAILED, error=message[:500], **request.billed(remote, now))
            step.record_cost()
            logger.warning("%s failed: %s", step, message)
            step.give_up(message[:500], now)  # its pipeline is brought up to date with it (on_failed())
            return "failed"
        if remote.files:
            # Synchronous: the files came with the answer, and were billed.
            request._save(state=RemoteRequest.State.COMPLETED, **request.billed(remote, now))
            outcome = "completed" if step.finish(remote.files, request) else "cancelled"
        else:
            step.handed_off(request)
            outcome = "submitted"
        step.pipeline.advance()  # its row now says where the step waits, or what it made
    return outcome


def fetch(step):
    request = step.requests.filter(state=RemoteRequest.State.COMPLETED).order_by("-attempt").first()
    if request is None:
        raise ProviderError("This step's result is not at the provider any more; retry it to run it again.")
    files = get_provider(request.model).fetch(request, checkpoint=step.checkpoint)
    return "completed" if _store(step, files, request) else "cancelled"


def _store(step, files, request):
    stored = step.finish(files, request)
    step.pipeline.advance()
    return stored
