"""Sending a failed delivery again from the delivery log."""

from hooks.events import emit
from hooks.models import Delivery, Endpoint
from hooks.tasks import deliver
from jobs.tests.fakes.server import Reply


def test_it_sends_a_failed_delivery_again_with_fresh_attempts(owner_client, owner, receiver, settings, deliveries_sent):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.force("POST", "/hook", Reply(500, b""), times=1)
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=["pipeline.finished"])
    (delivery,) = emit(owner.pk, "pipeline.finished", {})
    deliver.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "Send again" in owner_client.get("/settings/webhooks").content.decode()

    assert owner_client.post(f"/settings/webhooks/deliveries/{delivery.pk}/redeliver").status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == ("queued", 0, "")
    assert deliver.run(delivery.pk) == "delivered"
    assert delivery.attempt_set.count() == 2


def test_it_sends_again_only_failed_deliveries_of_the_owner(owner_client, owner, other, receiver):
    Endpoint.objects.create(owner=other, url=receiver.hook_url, events=["pipeline.finished"])
    (theirs,) = emit(other.pk, "pipeline.finished", {})
    Delivery.objects.filter(pk=theirs.pk).update(status="failed")
    assert owner_client.post(f"/settings/webhooks/deliveries/{theirs.pk}/redeliver").status_code == 404
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=["pipeline.finished"])
    (mine,) = emit(owner.pk, "pipeline.finished", {})
    owner_client.post(f"/settings/webhooks/deliveries/{mine.pk}/redeliver")
    mine.refresh_from_db()
    assert mine.status == "queued" and mine.sent_at is not None  # still queued: nothing changed
    assert owner_client.get(f"/settings/webhooks/deliveries/{mine.pk}/redeliver")["Location"] == "/settings/webhooks"  # a GET sends nothing
