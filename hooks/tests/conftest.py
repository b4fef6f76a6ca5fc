import pytest

from hooks.models import DeliveryQuerySet
from jobs.tests.conftest import sent  # noqa: F401  (step messages recorded, not sent)

from .receiver import Receiver


@pytest.fixture(autouse=True)
def deliveries_sent(monkeypatch):
    """Delivery ids whose message would have been sent (with countdowns): no broker needed."""
    messages = []

    def record(queryset, items, countdown=None):
        messages.extend((item.pk, countdown) for item in items)
        return len(items)

    monkeypatch.setattr(DeliveryQuerySet, "send_many", record)
    return messages


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    with Receiver() as server:
        yield server
