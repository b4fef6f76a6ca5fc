"""Sending one delivery: refuse private destinations, sign, POST, record the attempt.

The address a destination's name resolves to is checked, then connected to: the POST goes to
that address with the name in its Host header and in TLS (SNI and the certificate's check). Left
to resolve the name again, the client could be sent elsewhere by a DNS answer that changed in
between (DNS rebinding: a public address for the check, loopback for the connection).

Signature: X-I2V-Signature is `v1=` and the hex HMAC-SHA256, keyed with the
endpoint's secret, of `<X-I2V-Timestamp>.<body>`. A receiver recomputes it over
the raw body and refuses a timestamp older than a few minutes (a replay).
"""

import hashlib
import hmac
import socket
import time
import httpx
from django.conf import settings
from django.utils import timezone

from jobs.providers.http import client

from .addresses import is_private
from .models import Attempt

USER_AGENT = "i2v-webhooks/1"


class DeliveryError(Exception):
    # The endpoint's or the network's failure, which the message names: logged without a traceback.
    expected = True

    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def sign(secret, timestamp, body):
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# Addresses of one name tried in turn when one can't be connected to (a name with IPv6 and IPv4
# addresses on a host without an IPv6 route), as the client itself would: nothing was sent yet.
ADDRESSES_TRIED = 4


def check_destination(url):
    """The public addresses to send `url`'s POST to, in the resolver's order ([None] when
    WEBHOOK_ALLOW_PRIVATE: the client resolves it); refused permanently if its host is, or resolves
    to, a loopback, private, link-local or reserved address. Checked at each send, as DNS answers change."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return [None]
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
        addresses = [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except socket.gaierror as exc:
        raise DeliveryError(f"Could not resolve {host}: {exc.strerror}.") from None
    except (UnicodeError, httpx.InvalidURL):
        # A name DNS can't carry (a label over 63 characters once IDNA-encoded): it never will.
        raise DeliveryError("Refused: the URL's host is not a name DNS can look up.", permanent=True) from None
    private = sorted(a for a in addresses if is_private(a))
    if private:
        raise DeliveryError(f"Refused: {host} resolves to a non-public address ({private[0]}).", permanent=True)
    return list(dict.fromkeys(addresses))[:ADDRESSES_TRIED]


def post(url, addresses, body, headers):
    """POST `body` to `url` at the first of `addresses` that takes the connection."""
    for n, address in enumerate(addresses, 1):
        target, sent_headers, extensions = pinned(url, address, headers)
        try:
            # The providers' pooled client (no SSL context built per call; redirects not followed).
            return client().post(
                target, content=body, headers=sent_headers, extensions=extensions, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
            )
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if n == len(addresses):
                raise


def pinned(url, address, headers):
    """(url, headers, extensions) of a request to `url` sent to `address`: the URL's host made the
    address, its name kept in Host and for TLS."""
    original = httpx.URL(url)
    if address is None:
        return original, headers, {}
    name = original.raw_host.decode("ascii")
    headers = {**headers, "Host": original.netloc.decode("ascii")}
    return original.copy_with(host=address), headers, {"sni_hostname": name}


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
        response = post(endpoint.url, check_destination(endpoint.url), body, headers)
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
