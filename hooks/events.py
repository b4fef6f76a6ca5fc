"""Making deliveries: one row per endpoint that listens, in the caller's transaction."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from i2v.lib.jsonout import instant

from .models import Delivery, Endpoint


def emit(owner_id, event, data):
    """Queue `event` with `data` for each of the owner's endpoints that listen; the deliveries."""
    endpoints = Endpoint.objects.listening(owner_id, event)
    if not endpoints:
        return []
    now = timezone.now()
    body = json.dumps({"event": event, "created_at": instant(now), "data": data}, cls=DjangoJSONEncoder)
    rows = Delivery.objects.bulk_create(
        Delivery(
            owner_id=owner_id, endpoint=endpoint, event=event, body=body, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
            available_at=now, sent_at=now, created_at=now,
        )  # fmt: skip
        for endpoint in endpoints
    )
    Delivery.objects.send_on_commit(rows)
    return rows
