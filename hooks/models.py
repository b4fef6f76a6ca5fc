"""Outgoing webhooks: the URLs a person registers, and each event's delivery to each of them.

(jobs/webhooks.py is the other direction: providers calling us.)

A Delivery is a work-queue row (i2v/lib/workqueue.py) like a step or a processing
job: made in the same transaction as the change it reports, so nothing is lost;
claimed by one worker at a time under a lease, so nothing is sent twice while a
send is in flight; retried with exponential backoff; taken back by the sweeper
if its worker dies. Every try is an Attempt row: the delivery log.
"""

import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from i2v.lib.bulk import delete_rows
from i2v.lib.pagination import Ordering, paginate
from i2v.lib.workqueue import WorkItem, WorkQueueQuerySet, WorkSpec

DELIVER = "hooks.tasks.deliver"
EVENTS = {
    "pipeline.finished": "A pipeline finished: every step completed",
    "pipeline.failed": "A pipeline stopped with failed steps",
    "asset.processed": "An image or video's thumbnails are ready",
}
LOG_ORDERING = Ordering("delivery_log", (("created_at", True), ("id", True)))  # index hook_delivery_log
LOG_PAGE = 50


def new_secret():
    return f"whsec_{secrets.token_urlsafe(32)}"


class EndpointQuerySet(models.QuerySet):
    def listening(self, owner_id, event):
        """The owner's active endpoints that asked for `event` (a handful per user: filtered here,
        as SQLite has no JSON containment)."""
        return [e for e in self.filter(owner_id=owner_id, is_active=True) if event in e.events]


class Endpoint(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80, default=new_secret)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        # The owner's endpoints (settings page, each event): owner=?; few rows per owner.
        indexes = [models.Index(fields=["owner", "created_at"], name="hook_endpoint_owner")]

    def __str__(self):
        return self.url


class DeliveryQuerySet(WorkQueueQuerySet):
    def for_run(self):
        return self.select_related("endpoint")

    def log(self, owner, cursor=None, page_size=LOG_PAGE):
        """A keyset page of the owner's deliveries, newest first, after `cursor`, with their endpoints
        and attempts (two queries); raises CursorError."""
        rows = (
            self.filter(owner=owner)
            .select_related("endpoint")
            .prefetch_related(models.Prefetch("attempt_set", Attempt.objects.order_by("number")))
        )
        return paginate(rows, LOG_ORDERING, cursor, page_size)

    def logged(self, owner):
        """How many deliveries the owner's log holds: counted on the log's index, which prune() keeps to
        WEBHOOK_LOG_DAYS, so the page can say how many it doesn't show."""
        return self.filter(owner=owner).count()


    def prune(self, now=None):
        """Forget deliveries that ended more than WEBHOOK_LOG_DAYS ago (with their attempts); the number."""
        now = now or timezone.now()
        old = self.filter(
            status__in=(Delivery.Status.DELIVERED, Delivery.Status.FAILED),
            created_at__lt=now - timedelta(days=settings.WEBHOOK_LOG_DAYS),
        )
        ids = list(old.order_by().values_list("pk", flat=True)[: settings.WORK_SWEEP_LIMIT])
        if not ids:
            return 0
        with transaction.atomic():
            return delete_rows(self.filter(pk__in=ids))  # with their attempts, loading nothing


class Delivery(WorkItem):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    work = WorkSpec(
        task=DELIVER, queues=(settings.WEBHOOK_QUEUE,), leased=Status.SENDING, done=Status.DELIVERED,
        backoff_setting="WEBHOOK_BACKOFF_SECONDS",
    )  # fmt: skip

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    # The exact bytes signed and sent, the same on every attempt (the timestamp header changes).
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    queue = models.CharField(max_length=16, default=settings.WEBHOOK_QUEUE)
    priority = models.PositiveSmallIntegerField(default=3)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        indexes = [
            # The delivery log: owner=? ORDER BY created_at DESC, id DESC
            models.Index(fields=["owner", "-created_at", "-id"], name="hook_delivery_log"),
            # Sweeper, due rows with no message: status='queued' AND sent_at IS NULL AND available_at <= ?
            models.Index(fields=["priority", "available_at"], condition=Q(status="queued", sent_at__isnull=True), name="hook_unsent_due"),
            # Sweeper, messages in flight: status='queued' AND sent_at < ? ORDER BY sent_at
            models.Index(fields=["queue", "sent_at"], condition=Q(status="queued", sent_at__isnull=False), name="hook_in_flight"),
            # Sweeper, leases that ran out: status='sending' AND leased_until < ?
            models.Index(fields=["leased_until"], condition=Q(status="sending"), name="hook_leases"),
        ]

    def __str__(self):
        return f"{self.event} to {self.endpoint_id} ({self.status})"

    @property
    def data(self):
        return json.loads(self.body)

    @property
    def next_retry(self):
        return self.available_at if self.status == self.Status.QUEUED and self.attempts else None

    @property
    def shown_status(self):
        """Its status as the log says it: a queued delivery that has been tried is waiting to retry."""
        return "retrying" if self.next_retry else self.status

    @property
    def error_beyond_attempts(self):
        """Its error where its attempts (prefetched by log()) don't already say it: a give-up, a sweep."""
        attempts = list(self.attempt_set.all())
        return "" if attempts and attempts[-1].error == self.error else self.error

    def redeliver(self):
        """A person sends a failed delivery again: a fresh set of attempts; False if it wasn't failed."""
        now = timezone.now()
        fresh = {"status": self.Status.QUEUED, "attempts": 0, "error": "", "available_at": now, "sent_at": now, "leased_until": None}
        if not Delivery.objects.filter(pk=self.pk, status=self.Status.FAILED).update(**fresh):
            return False
        for name, value in fresh.items():
            setattr(self, name, value)
        Delivery.objects.send_on_commit([self])
        return True

    def describe_error(self, exc):
        return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"

    def done_fields(self, now):
        return {"delivered_at": now}


class Attempt(models.Model):
    """One try of a delivery, kept for the log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE)
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        # A delivery's attempts: delivery_id=? ORDER BY number
        indexes = [models.Index(fields=["delivery", "number"], name="hook_attempt_delivery")]
