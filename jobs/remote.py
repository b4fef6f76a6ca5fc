"""The life of every paid call to a provider: one RemoteRequest row per call.

The row is written before the submission leaves (state `sending`) and after the
provider answers, so no path can submit a planned output twice without a person
asking: a worker that dies between the two (or whose database fails as it
writes the answer) leaves a `sending` row, whose outcome is then unknown, and
an unknown outcome is looked up (where the provider allows, or waited for by
webhook) or shown to its owner, never sent again by itself. The sweeper and
every later run of the step treat it so alike (Step.take_up_sent()).

    sending -> queued -> running -> completed -> stored      (files fetched into the library)
       |         \\---------\\---------> failed | cancelled
       +-> refused (the provider didn't take it: 429, 5xx, unreachable; nothing billed)
       +-> unknown (no answer to the submission) -> queued/running/... once found

In-flight requests count against their provider account's limit
(GENERATION_CONCURRENCY), whatever the number of worker slots: a slot only
submits, and the requests wait at the provider while the poller (check_due(),
every GENERATION_POLL_SECONDS) checks many of them per tick, or a webhook
tells. The cost of every billed request is recorded from the catalog's bill()
of the settings it was sent with, beside what the provider reports.
"""

import logging
import secrets
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from i2v.lib.jsonout import instant
from i2v.lib.workqueue import Superseded

from .catalog import bill, effective
from .providers import ProviderError, get_provider
from .providers.base import CANCELLED, COMPLETED, FAILED, NOT_FOUND, QUEUED, RUNNING, Remote

logger = logging.getLogger(__name__)
LOG_LINES = 5
# Progress is written when it moves this many points (or the state or queue place changes):
# a tick over 40 running requests must not write 40 rows to say 41 % instead of 40 %.
PROGRESS_STEP = 10


class RemoteRequestQuerySet(models.QuerySet):
    def in_flight(self):
        """Requests the provider may be working on: they hold a place in its account's limit."""
        flying = Q(state__in=RemoteRequest.FLYING) | Q(state=RemoteRequest.State.UNKNOWN, finished_at__isnull=True)
        return self.filter(flying)

    def open(self, step, provider, options):
        """A `sending` row for `step`, or None when the provider account is at its limit.

        The count and the insert happen under a lock per account, so two workers
        can't both take the last place. (SQLite takes its write lock when the
        transaction starts, which serialises the same way.)
        """
        account = provider.account
        with transaction.atomic():
            _lock(f"{provider.name}:{account}")
            # A run whose step was cancelled since it was claimed sends nothing (a cancel pays for no more), and
            # leaves no request for a Resume to meet: that one queues the step for a new run, which alone sends it.
            if not step.mine().exists():
                raise Superseded(f"{step} was cancelled or taken over")
            if self.in_flight().filter(provider=provider.name, account=account).count() >= provider.limit:
                return None
            return self.create(
                step=step, owner_id=step.owner_id, pipeline_id=step.pipeline_id, provider=provider.name,
                model=step.model_name, account=account, attempt=step.requests.count() + 1,
                token=secrets.token_urlsafe(24), settings=options,
            )  # fmt: skip

    def free_places(self, provider_name, account, limit):
        return max(0, limit - self.in_flight().filter(provider=provider_name, account=account).count())

    def due(self, now):
        """Requests the poller should ask about now: waiting at the provider, or lost and lookup-able."""
        return self.filter(Q(state__in=RemoteRequest.POLLED) | Q(state=RemoteRequest.State.UNKNOWN, finished_at__isnull=True)).filter(
            next_check_at__lte=now
        )


def _lock(name):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(name.encode())])


class RemoteRequest(models.Model):
    class State(models.TextChoices):
        SENDING = "sending"
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        STORED = "stored"
        FAILED = "failed"
        CANCELLED = "cancelled"
        REFUSED = "refused"
        UNKNOWN = "unknown"

    FLYING = (State.SENDING, State.QUEUED, State.RUNNING)
    POLLED = (State.QUEUED, State.RUNNING)
    FINAL = (State.STORED, State.FAILED, State.CANCELLED, State.REFUSED)

    step = models.ForeignKey("jobs.Step", on_delete=models.CASCADE, related_name="requests")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey("jobs.Pipeline", on_delete=models.CASCADE, related_name="requests")
    provider = models.CharField(max_length=16)
    model = models.CharField(max_length=64)
    # A fingerprint of the API key, never the key: limits are per provider account.
    account = models.CharField(max_length=16, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)  # this step's nth paid call
    # Ours: in the webhook URL, and the client id where the provider takes one.
    token = models.CharField(max_length=40, unique=True)
    external_id = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    settings = models.JSONField(default=dict)  # what the provider was asked for (billed from it)
    meta = models.JSONField(default=dict, blank=True)  # the provider's URLs for this request
    result = models.JSONField(default=list, blank=True)  # URLs of the finished files
    queue_position = models.IntegerField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    billed_units = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    reported_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)

    objects = RemoteRequestQuerySet.as_manager()

    class Meta:
        indexes = [
            # Provider limit: provider=? AND account=? AND state IN ('sending','queued','running'[,'unknown'])
            models.Index(
                fields=["provider", "account", "state"], name="req_in_flight",
                condition=Q(state__in=["sending", "queued", "running", "unknown"]),
            ),
            # Poller: state IN ('queued','running','unknown') AND next_check_at <= ? ORDER BY next_check_at
            models.Index(
                fields=["next_check_at"], name="req_due",
                condition=Q(state__in=["queued", "running", "unknown"]),
            ),
            # A step's calls, newest last: step_id=? ORDER BY attempt
            models.Index(fields=["step", "attempt"], name="req_step_attempt"),
        ]

    def __str__(self):
        return f"{self.provider} request {self.external_id or self.token[:8]} ({self.state})"

    @property
    def provider_api(self):
        return get_provider(self.model)

    @property
    def findable(self):
        """Whether a submission that got no answer can be found: by a lookup, or by the webhook it was sent with."""
        provider = self.provider_api
        return provider.can_lookup or bool(provider.webhooks and self.webhook_url)

    @property
    def is_open(self):
        return self.state not in self.FINAL and not (self.state == self.State.UNKNOWN and self.finished_at)

    @property
    def webhook_url(self):
        if not settings.PUBLIC_BASE_URL:
            return None
        return f"{settings.PUBLIC_BASE_URL}/hooks/{self.provider}/{self.token}"

    def _save(self, **fields):
        """Write `fields` while the request is still open; False when a replay or a
        late answer finds it already settled."""
        done = RemoteRequest.objects.filter(pk=self.pk).exclude(state__in=self.FINAL).update(**fields)
        if done:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(done)

    # --- Submission -------------------------------------------------------------------------

    def accepted(self, remote):
        """The provider took it: it waits there, and the poller asks after it."""
        now = timezone.now()
        state = self.State.RUNNING if remote.state == RUNNING else self.State.QUEUED
        return self._save(
            state=state, external_id=remote.external_id, meta=remote.meta, submitted_at=now,
            queue_position=remote.queue_position, next_check_at=now + timedelta(seconds=settings.GENERATION_FIRST_CHECK_SECONDS),
        )  # fmt: skip

    def refused(self, error):
        """The provider did not take it (or it never left): nothing was started, nothing billed."""
        return self._save(state=self.State.REFUSED, error=error[:500], finished_at=timezone.now())

    def lost(self, error, can_find):
        """The submission got no answer: it may be running. Never sent again by itself;
        looked up (or waited for by webhook) while `can_find`, else its owner is asked."""
        now = timezone.now()
        fields = {"state": self.State.UNKNOWN, "error": error[:500], "submitted_at": self.submitted_at or now}
        if can_find:
            fields["next_check_at"] = now + timedelta(seconds=settings.GENERATION_FIRST_CHECK_SECONDS)
        else:
            fields["finished_at"] = now
        return self._save(**fields)

    def refused_if_free(self):
        """A `sending` request whose answer was never recorded, refused if its provider runs it again at no cost
        (resubmit_safe: nothing of it is lost, and its step may be sent again): whether it was such a provider's."""
        if not self.provider_api.resubmit_safe:
            return False
        self.refused("Its answer was never recorded; it costs nothing to run again.")
        return True

    def give_up_sending(self):
        """Settle a request left `sending` under a step cancelled since: its worker stopped in the call, and
        nothing else would, so it held a provider place, and Resume ("still being stopped"), for good. One free to
        send again is refused; any other is a lost submission, looked for (found, the poller cancels it there) or
        its outcome unknown at once, which the cancelled step then says: a person's Resume may pay for it again."""
        if self.refused_if_free():
            return True
        findable = self.findable
        with transaction.atomic():
            if not self.lost("Sent as its step was cancelled; its answer was never recorded (its worker stopped).", findable):
                return False
            if not findable:
                self.step.outcome_unknown(self)
        return True

    def billed(self, remote, now):
        """The fields that record what this request cost, as it finished."""
        price = bill(self.model, self.settings)
        reported = remote.reported_cost if remote.reported_cost is not None else self.reported_cost
        return {"billed_units": price.units, "cost": price.total, "reported_cost": reported, "finished_at": now}

    # --- What the provider says, by poll, webhook or lookup ------------------------------------

    def apply(self, remote):
        """Move this request (and its step) on to what the provider says; idempotent,
        so a webhook replayed, or a poll that crosses a webhook, changes nothing twice.
        True when the step's pipeline should be brought up to date (Pipeline.advance(),
        which the caller runs once for all the requests it applied)."""
        if remote.state in (QUEUED, RUNNING):
            return self._progress(remote)
        with transaction.atomic():
            current = RemoteRequest.objects.select_for_update().filter(pk=self.pk).first()
            if current is None or not current.is_open or current.state == self.State.COMPLETED:
                return False  # settled already: a replay, or a poll that crossed a webhook
            return current._settle(remote)

    def _progress(self, remote):
        """Still waiting or running: where it is, in two conditional writes and no lock (the
        poller asks about many requests a tick; a settled request matches neither write)."""
        from .models import Step

        now = timezone.now()
        state = self.State.RUNNING if remote.state == RUNNING else self.State.QUEUED
        waiting = RemoteRequest.objects.filter(pk=self.pk, state__in=(*self.POLLED, self.State.UNKNOWN))
        if self._unchanged(state, remote):
            # Nothing a person would see moved: only when to ask next is written.
            waiting.update(next_check_at=now + self._poll_interval())
            return False
        fields = {
            "state": state, "external_id": remote.external_id or self.external_id, "queue_position": remote.queue_position,
            "progress": remote.progress, "logs": "\n".join((remote.logs or [])[-LOG_LINES:]) or self.logs, "error": "",
            "next_check_at": now + self._poll_interval(),
        }  # fmt: skip
        if not waiting.update(**fields):
            return False
        self.__dict__.update(fields)
        Step(pk=self.step_id).show_progress(self)
        return True

    def _settle(self, remote):
        from .models import Step

        now = timezone.now()
        step = Step.objects.select_related("pipeline").get(pk=self.step_id)
        logs = "\n".join((remote.logs or [])[-LOG_LINES:]) or self.logs
        if remote.state == COMPLETED:
            self._save(
                state=self.State.COMPLETED, external_id=remote.external_id or self.external_id,
                result=remote.outputs, progress=100, queue_position=None, logs=logs, **self.billed(remote, now),
            )  # fmt: skip
            step.record_cost()
            step.fetch_result(self)
        elif remote.state == NOT_FOUND:
            return self._not_found(step, now)
        else:
            error = remote.error or ("Cancelled at the provider." if remote.state == CANCELLED else "The provider failed.")
            state = self.State.CANCELLED if remote.state == CANCELLED else self.State.FAILED
            reported = {"reported_cost": remote.reported_cost} if remote.reported_cost is not None else {}
            self._save(state=state, error=error[:500], logs=logs, finished_at=now, **reported)
            step.record_cost()
            step.provider_failed(self)
        return True

    def _unchanged(self, state, remote):
        same_place = state == self.state and remote.queue_position == self.queue_position
        moved = abs((remote.progress or 0) - (self.progress or 0))
        return same_place and moved < PROGRESS_STEP and (remote.external_id or self.external_id) == self.external_id

    def _not_found(self, step, now):
        """A lookup found nothing. A request lost in transit may still arrive, so it is
        asked again until GENERATION_UNKNOWN_WAIT_SECONDS have passed; then its owner decides."""
        waited = (now - (self.submitted_at or self.created_at)).total_seconds()
        if waited < settings.GENERATION_UNKNOWN_WAIT_SECONDS:
            return self._save(next_check_at=now + timedelta(seconds=settings.GENERATION_POLL_SECONDS * 5))
        self._save(finished_at=now)
        step.outcome_unknown(self)
        return True

    def _poll_interval(self):
        # Fresh requests are asked often (short jobs finish in seconds); long ones less:
        # a 5-minute video needs no answer every 2 s.
        age = (timezone.now() - (self.submitted_at or self.created_at)).total_seconds()
        base = settings.GENERATION_POLL_SECONDS
        return timedelta(seconds=base if age < 60 else min(base * 5, 15))

    def stored(self):
        return self._save(state=self.State.STORED, progress=100)

    def as_json(self):
        return {
            "id": self.id, "provider": self.provider, "model": self.model, "attempt": self.attempt,
            "external_id": self.external_id, "state": self.state, "queue_position": self.queue_position,
            "progress": self.progress, "error": self.error, "billed_units": str(self.billed_units),
            "cost": str(self.cost), "reported_cost": None if self.reported_cost is None else str(self.reported_cost),
            "submitted_at": instant(self.submitted_at),
            "finished_at": instant(self.finished_at),
        }  # fmt: skip


# --- The poller ---------------------------------------------------------------------------------


def check_due(now=None, limit=None):
    """One tick of the poller: ask the providers about the requests that are due,
    many at once, and move each on; cancel at the provider what people cancelled.
    Returns (checked, changed)."""
    now = now or timezone.now()
    cancelled = cancel_stopped(now)
    due = list(RemoteRequest.objects.due(now).order_by("next_check_at")[: limit or settings.GENERATION_CHECK_BATCH])
    if not due:
        return 0, cancelled
    # Claimed for a while first, so a second poller running at the same time leaves them alone.
    hold = now + timedelta(seconds=settings.GENERATION_HTTP_TIMEOUT_SECONDS + 5)
    RemoteRequest.objects.filter(pk__in=[r.pk for r in due]).update(next_check_at=hold)
    with ThreadPoolExecutor(max_workers=min(settings.GENERATION_CHECK_THREADS, len(due))) as pool:
        answers = list(pool.map(_ask, due))
    changed, moved = 0, set()
    for request, remote in answers:
        if remote is None:
            request.__class__.objects.filter(pk=request.pk).update(
                next_check_at=now + timedelta(seconds=settings.GENERATION_POLL_SECONDS * 2), checks=models.F("checks") + 1
            )
            continue
        RemoteRequest.objects.filter(pk=request.pk).update(checks=models.F("checks") + 1)
        if request.apply(remote):
            changed += 1
            moved.add(request.pipeline_id)
    _show_activity(moved)
    return len(due), changed + cancelled


def _show_activity(pipeline_ids):
    """The rows of pipelines whose requests moved say so (queue position, progress)."""
    from .models import Pipeline

    for pipeline in Pipeline.objects.filter(pk__in=pipeline_ids):
        pipeline.advance()


def _ask(request):
    """(request, Remote or None): the provider's answer; None when asking failed (asked again later)."""
    try:
        provider = request.provider_api
        if request.state == RemoteRequest.State.UNKNOWN:
            if not provider.can_lookup:
                # Waiting for a webhook that may never come: the wait ends the same way as a lookup that finds nothing.
                return request, _said(NOT_FOUND)
            return request, provider.lookup(request) or _said(NOT_FOUND)
        return request, provider.check(request)
    except ProviderError as error:
        if not error.retryable:
            return request, _said(FAILED, error=error.message)
        logger.warning("could not check %s: %s", request, error.message)
        return request, None
    except Exception:  # noqa: BLE001 - one broken answer must not stop the tick for every other request
        logger.exception("could not check %s", request)
        return request, None
    finally:
        connection.close()  # a thread of its own: its connection (if any) goes with it


def _said(state, error=""):
    return Remote(state, error=error)


def cancel_stopped(now=None):
    """Requests still at a provider whose step a person cancelled: cancel them there, and take up those left
    `sending` by a worker that stopped (give_up_sending()). The number."""
    from .models import Step

    now = now or timezone.now()
    left = list(
        RemoteRequest.objects.filter(
            state=RemoteRequest.State.SENDING, step__status=Step.Status.CANCELLED,
            created_at__lt=now - timedelta(seconds=settings.GENERATION_SENDING_GIVE_UP_SECONDS),
        )[: settings.GENERATION_CHECK_BATCH]
    )  # fmt: skip
    given_up = sum(request.give_up_sending() for request in left)
    stopped = list(
        RemoteRequest.objects.filter(state__in=RemoteRequest.POLLED, step__status=Step.Status.CANCELLED)[
            : settings.GENERATION_CHECK_BATCH
        ]
    )
    for request in stopped:
        try:
            request.provider_api.cancel(request)
        except ProviderError as error:
            logger.warning("could not cancel %s at the provider: %s", request, error.message)
        request.apply(_said(CANCELLED, error="Cancelled by its owner."))
    _show_activity({request.pipeline_id for request in [*left, *stopped]})
    return given_up + len(stopped)


def settings_for(step):
    """What a request of `step` is sent with and billed for: the step's config as the model takes it."""
    return {**step.config, **effective(step.model_name, step.config)}
