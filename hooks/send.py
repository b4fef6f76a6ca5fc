"""Sending one delivery: refuse private destinations, sign, POST, record the attempt.

Signature: X-I2V-Signature is `v1=` and the hex HMAC-SHA256, keyed with the
endpoint's secret, of `<X-I2V-Timestamp>.<body>`. A receiver recomputes it over
the raw body and refuses a timestamp older than a few minutes (a replay).
"""

import hashlib
import hmac
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone

from jobs.providers.http import client

from .addresses import is_private
from .models import Attempt

USER_AGENT = "i2v-webhooks/1"


class DeliveryError(Exception):
    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def sign(secret, timestamp, body):
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_destination(url):
    """Refuse (permanently) a URL whose host is, or resolves to, a loopback, private, link-local or
    reserved address, unless WEBHOOK_ALLOW_PRIVATE. Checked at each send, as DNS answers change."""
    host = urlsplit(url).hostname or ""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise DeliveryError(f"Could not resolve {host}: {exc.strerror}.") from None
    private = sorted(a for a in addresses if is_private(a))
    if private:
        raise DeliveryError(f"Refused: {host} resolves to a non-public address ({private[0]}).", permanent=True)


def deliver(delivery):
    """One attempt; completes the delivery on a 2xx, raises DeliveryError otherwise."""
    endpoint = delivery.endpoint
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT, "X-I2V-Event": delivery.event,
        "X-I2V-Delivery": str(delivery.pk), "X-I2V-Timestamp": str(timestamp),
        "X-I2V-Signature": sign(endpoint.secret, timestamp, body),
    }  # fmt: skip
    started, status, error = time.monotonic(), None, ""
    try:
        check_destination(endpoint.url)
        # The providers' pooled client (no SSL context built per call; redirects not followed).
        response = client().post(endpoint.url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"The endpoint answered {status}."
    except DeliveryError as exc:
        error = exc.message
        raise
    except httpx.TimeoutException:
        error = f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s."
    except httpx.HTTPError as exc:
        error = f"Could not connect: {exc}"[:500]
    finally:
        Attempt.objects.create(
            delivery=delivery, number=delivery.attempts, at=timezone.now(), status_code=status, error=error[:500],
            duration_ms=int((time.monotonic() - started) * 1000),
        )  # fmt: skip
    if error:
        delivery.mine().update(response_status=status)
        raise DeliveryError(error)
    delivery.complete(response_status=status)
    return "delivered"
