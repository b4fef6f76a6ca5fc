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
after the answer; jobs/remote.py keeps the rest of its life.
"""

import logging

from django.conf import settings
from django.utils import timezone

from i2v.lib.workqueue import Superseded, pause_for_tests
from prompts import enhance

from .models import Step
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
    if remote.state == FAILED:
        # Synchronous: the provider ran it and billed it, but what it sent back can't be
        # used (not an image, too big). Its cost is recorded; only a person runs it again.
        request.accepted(remote)
        request._save(state=RemoteRequest.State.FAILED, error=remote.error[:500], **request.billed(remote, timezone.now()))
        step.record_cost()
        raise ProviderError(remote.error or f"{provider.label} answered with nothing usable.")
    if remote.files:
        # Synchronous: the files came with the answer, and were billed.
        request.accepted(remote)
        request._save(state=RemoteRequest.State.COMPLETED, **request.billed(remote, timezone.now()))
        return "completed" if _store(step, remote.files, request) else "cancelled"
    request.accepted(remote)
    step.handed_off(request)
    step.pipeline.advance()  # its row now says where the step waits
    return "submitted"


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
