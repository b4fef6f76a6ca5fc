"""Delivering webhooks (hooks/send.py, run by hooks.tasks.deliver on the work-queue engine):
signed POSTs to a receiver on loopback, retries with backoff, never two sends at once."""

import json
import socket
from datetime import timedelta

import httpx
from django.utils import timezone

from hooks import send
from hooks.events import emit
from hooks.models import Attempt, Delivery, Endpoint
from hooks.tasks import deliver
from i2v.lib.workqueue import LeaseHeld
from jobs.models import Pipeline
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.fakes.server import Reply
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

from .receiver import Receiver

ALL = ["pipeline.finished", "pipeline.failed", "asset.processed"]


def _pipeline(owner):
    cleaned = {
        "name": "hooked", "sources": [make_source(owner).pk], "prompts": ["a fox"], "mode": "auto",
        "i2i": {"model": "local-i2i", "negative_prompt": "", "images_per_prompt": 1, "aspect_ratio": "1:1", "quality": "draft"},
        "i2v": None,
    }  # fmt: skip
    return Pipeline.objects.create_from_request(owner, cleaned)


def test_it_posts_a_signed_event_when_a_pipeline_finishes(owner, receiver, deliveries_sent):
    endpoint = Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    Endpoint.objects.create(owner=owner, url=receiver.hook_url + "?other", events=["asset.processed"])
    pipeline = run_queued(_pipeline(owner))
    assert pipeline.status == "completed"

    delivery = Delivery.objects.get(event="pipeline.finished")  # only the endpoint that asked for it
    # Its message leaves when the pipeline's last change commits (send_on_commit): marked in flight already.
    assert delivery.endpoint == endpoint and delivery.sent_at is not None
    assert deliver.run(delivery.pk) == "delivered"

    (call,) = receiver.calls_to("POST", "/hook")
    assert Receiver.verify(endpoint.secret, call)
    assert not Receiver.verify("whsec_wrong", call)
    assert call.headers["X-I2V-Event"] == "pipeline.finished" and call.headers["X-I2V-Delivery"] == str(delivery.pk)
    assert abs(int(call.headers["X-I2V-Timestamp"]) - timezone.now().timestamp()) < 5
    body = json.loads(call.body)
    assert body["event"] == "pipeline.finished"
    assert body["data"] == {
        "pipeline_id": pipeline.pk, "name": "hooked", "status": "completed", "cost": "0.0000", "steps_done": 1, "steps_planned": 1,
    }  # fmt: skip
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("delivered", 204, 1)
    assert list(Attempt.objects.values_list("number", "status_code", "error")) == [(1, 204, "")]
    # A late duplicate of the message finds nothing to do: sent once.
    assert deliver.run(delivery.pk) == "skipped" and len(receiver.calls) == 1


def test_it_reports_a_failed_pipeline(owner, receiver):
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=["pipeline.failed"])
    pipeline = _pipeline(owner)
    pipeline.steps.update(status="failed", error="boom")
    pipeline.advance()
    delivery = Delivery.objects.get()
    assert delivery.event == "pipeline.failed" and delivery.data["data"]["status"] == "failed"


def test_it_reports_a_processed_asset(owner, receiver):
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=["asset.processed"])
    asset = make_source(owner)
    job = ProcessingJob.objects.schedule(asset, ProcessingJob.Kind.THUMBNAILS, ProcessingJob.Queue.THUMBNAILS, force=True)
    run_job.run(job.pk)
    delivery = Delivery.objects.get()
    assert delivery.event == "asset.processed" and delivery.data["data"]["asset_id"] == asset.pk
    assert deliver.run(delivery.pk) == "delivered"


def test_it_retries_a_failing_receiver_with_backoff_and_logs_each_attempt(owner, owner_client, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_BACKOFF_SECONDS = 3, 30
    receiver.force("POST", "/hook", Reply(503, {"detail": "down"}), times=None)
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})

    waits = []
    for _ in range(3):
        before = timezone.now()
        deliver.run(delivery.pk)
        delivery.refresh_from_db()
        waits.append(round((delivery.available_at - before).total_seconds()))
        # Time passes: the backoff is over.
        Delivery.objects.filter(pk=delivery.pk).update(available_at=timezone.now() - timedelta(seconds=1))
    assert waits[:2] == [30, 120]  # 30 s, then 4 x 30 s
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 3, 503)
    assert delivery.error == "The endpoint answered 503."
    assert len(receiver.calls_to("POST", "/hook")) == 3
    assert list(Attempt.objects.order_by("number").values_list("number", "status_code")) == [(1, 503), (2, 503), (3, 503)]

    html = owner_client.get("/settings/webhooks").content.decode()
    assert html.count(": 503 in ") == 3 and "The endpoint answered 503." in html and "3 of 3" in html


def test_it_shows_the_next_retry_and_delivers_once_the_receiver_is_back(owner, owner_client, receiver, caplog):
    receiver.force("POST", "/hook", Reply(500, b"oops"), times=1)
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    (delivery,) = emit(owner.pk, "asset.processed", {"asset_id": 1})
    deliver.run(delivery.pk)
    # The endpoint's failure is the log's warning, its message the whole story: no traceback.
    (record,) = [r for r in caplog.records if r.name == "i2v.lib.workqueue"]
    assert record.levelname == "WARNING" and record.getMessage().endswith("failed: The endpoint answered 500.")
    assert record.exc_info is None
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.next_retry == delivery.available_at
    html = owner_client.get("/settings/webhooks").content.decode()
    assert f'id="delivery-{delivery.pk}" data-status="queued"' in html
    assert delivery.available_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC" in html
    Delivery.objects.filter(pk=delivery.pk).update(available_at=timezone.now())
    assert deliver.run(delivery.pk) == "delivered"
    assert list(Attempt.objects.order_by("number").values_list("status_code", flat=True)) == [500, 204]


def test_it_never_sends_while_another_send_is_in_flight(owner, receiver, deliveries_sent):
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})
    held = Delivery.objects.claim(delivery.pk)  # a worker is sending it now
    assert held.status == "sending"
    assert deliver.run(delivery.pk) == "waiting for the lease"
    assert isinstance(Delivery.objects.claim(delivery.pk), LeaseHeld)
    assert receiver.calls == []  # the duplicate sent nothing; it comes back when the lease ends
    assert deliveries_sent[-1][0] == delivery.pk and deliveries_sent[-1][1] > 0


def test_it_refuses_a_private_destination_unless_allowed(owner, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)  # saved before the setting changed
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})
    deliver.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.error == "Refused: 127.0.0.1 resolves to a non-public address (127.0.0.1)."
    assert receiver.calls == []


def test_it_sends_to_the_address_it_checked_when_dns_answers_change(owner, receiver, settings, monkeypatch):
    """DNS rebinding: a name answers a public address for the check, then loopback. Here loopback
    127.0.0.1 plays the public address, and the second answer (127.0.0.2, where nothing listens) the
    private one: the POST must reach the first, with the name in its Host header."""
    settings.WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(send, "is_private", lambda address: address != "127.0.0.1")
    resolve, answers = socket.getaddrinfo, iter(["127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.example":
            return resolve(host, port, *args, **kwargs)
        return resolve(next(answers, "127.0.0.2"), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = receiver.hook_url.split(":")[2].split("/")[0]
    Endpoint.objects.create(owner=owner, url=f"http://hooks.example:{port}/hook?x=1", events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})
    assert deliver.run(delivery.pk) == "delivered"
    (call,) = receiver.calls
    assert call.headers["Host"] == f"hooks.example:{port}" and (call.path, call.query) == ("/hook", "x=1")


def test_it_tries_the_next_checked_address_when_one_refuses_the_connection(owner, receiver, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(send, "is_private", lambda address: False)
    resolve = socket.getaddrinfo

    def two_addresses(host, port, *args, **kwargs):
        if host != "hooks.example":
            return resolve(host, port, *args, **kwargs)
        return resolve("127.0.0.2", port, *args, **kwargs) + resolve("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    port = receiver.hook_url.split(":")[2].split("/")[0]
    Endpoint.objects.create(owner=owner, url=f"http://hooks.example:{port}/hook", events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})
    assert deliver.run(delivery.pk) == "delivered"  # nothing listens at 127.0.0.2: the second one took it
    assert len(receiver.calls) == 1 and Attempt.objects.get().status_code == 204


def test_it_keeps_the_name_for_tls_and_the_host_header():
    url, headers, extensions = send.pinned("https://u:p@bücher.example:8443/h?a=1", "2001:db8::1", {"X": "1"})
    assert str(url) == "https://u:p@[2001:db8::1]:8443/h?a=1"
    assert headers == {"X": "1", "Host": "xn--bcher-kva.example:8443"}
    assert extensions == {"sni_hostname": "xn--bcher-kva.example"}
    assert send.pinned("https://a.example/h", None, {"X": "1"}) == (httpx.URL("https://a.example/h"), {"X": "1"}, {})


def test_it_refuses_for_good_a_host_dns_cannot_carry(owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    Endpoint.objects.create(owner=owner, url="https://" + "ü" * 60 + ".com/hook", events=ALL)  # saved before the form checked it
    (delivery,) = emit(owner.pk, "pipeline.finished", {"pipeline_id": 1})
    deliver.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.error == "Refused: the URL's host is not a name DNS can look up."


def test_it_sends_nothing_to_paused_endpoints_or_for_other_owners(owner, other, receiver):
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL, is_active=False)
    Endpoint.objects.create(owner=other, url=receiver.hook_url, events=ALL)
    assert emit(owner.pk, "pipeline.finished", {}) == []


def test_it_sweeps_due_retries(owner, receiver, deliveries_sent):
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {})
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=None)  # its message was lost
    assert Delivery.objects.sweep().sent == 1 and deliveries_sent[-1] == (delivery.pk, None)


def test_it_forgets_ended_deliveries_after_the_log_days(owner, receiver, settings):
    settings.WEBHOOK_LOG_DAYS = 30
    Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=ALL)
    old, recent, waiting = (emit(owner.pk, "pipeline.finished", {})[0] for _ in range(3))
    for delivery in (old, recent, waiting):
        deliver.run(delivery.pk) if delivery is not waiting else None
    Delivery.objects.filter(pk__in=[old.pk, waiting.pk]).update(created_at=timezone.now() - timedelta(days=31))
    assert Delivery.objects.prune() == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}  # a queued one is kept
    assert not Attempt.objects.filter(delivery_id=old.pk).exists()
