"""`Idempotency-Key` for API requests that create paid work (POST /api/pipelines).

The first request with a key runs inside one transaction with the key's row,
and its answer is stored in that row before it commits: so either both the
work and the answer exist, or neither does. A retry with the same key and the
same body (the same JSON: spacing and the order of keys don't matter) gets the
stored answer (marked `Idempotent-Replayed: true`) and
creates nothing; a concurrent retry waits on the row lock, then replays; the
same key with a different body is refused (422). Answers the client should
retry as they are (429, 5xx) are not stored. Keys are kept for
IDEMPOTENCY_KEY_DAYS.

A page's form that spends (Retry failed steps, Rerun as new) carries a key of its own in the same table
(form_key(), first_send()): the same form sent twice, by a double click, a reload or a back-and-resend, acts
once.
"""

import hashlib
import json
import re
import secrets
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone

from .errors import error_response
from .jsonbody import declared_length, loads

MAX_KEY = 200
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what form_key() makes; anything else (a NUL, 1 MB) is no key


def _fingerprints(request):
    """The request's two fingerprints: the hash of its path and JSON body written one way (keys sorted, no
    spaces), so a client that serialises the same request again differently is still recognised; and of the
    body as it came, which the keys stored before that (kept IDEMPOTENCY_KEY_DAYS) were made of. A body that
    is not JSON, or too deep to read, is its own."""
    body = request.body
    try:
        canonical = json.dumps(loads(body, settings.API_JSON_MAX_DEPTH), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return [hashlib.sha256(request.path.encode() + b"\0" + text).hexdigest() for text in (canonical, body)]


def idempotent(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
            return error_response(400, "invalid", f"Idempotency-Key must be 1 to {MAX_KEY} printable characters.", "Idempotency-Key")
        from i2v.models import IdempotencyKey

        if declared_length(request) > settings.API_JSON_MAX_BYTES:
            return view(request, *args, **kwargs)  # refused for its size (413) before anything reads it
        fingerprint, as_sent = _fingerprints(request)
        _forget_old()
        with transaction.atomic():
            record, _ = IdempotencyKey.objects.get_or_create(owner=request.user, key=key, defaults={"fingerprint": fingerprint})
            record = IdempotencyKey.objects.select_for_update().get(pk=record.pk)
            if record.fingerprint not in (fingerprint, as_sent):
                return error_response(
                    422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request.", "Idempotency-Key"
                )
            if record.status:
                replay = HttpResponse(bytes(record.body), status=record.status, content_type=record.content_type)
                replay["Idempotent-Replayed"] = "true"
                if record.location:
                    replay["Location"] = record.location
                return replay
            response = view(request, *args, **kwargs)
            if response.status_code == 429 or response.status_code >= 500:
                record.delete()  # nothing was done: the client may try the same key again
                return response
            record.status, record.body = response.status_code, response.content
            record.content_type = response.get("Content-Type", "application/json")
            record.location = response.get("Location", "")
            record.save(update_fields=["status", "body", "content_type", "location"])
        return response

    return wrapped


def _forget_old():
    from i2v.models import IdempotencyKey

    IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(days=settings.IDEMPOTENCY_KEY_DAYS)).delete()


def form_key():
    """A key for one form drawn on a page (its `once` field)."""
    return secrets.token_urlsafe(16)


def first_send(owner, path, key):
    """Whether `owner`'s form with this `key` (form_key()) is sent to `path` for the first time; None when the key
    isn't one of ours. Call it in the transaction that acts: an action that fails leaves the key unused, and a
    second send that races the first waits on the key's row (the unique index) and finds it used."""
    if not isinstance(key, str) or not FORM_KEY.fullmatch(key):
        return None
    from i2v.models import IdempotencyKey

    _forget_old()
    _, created = IdempotencyKey.objects.get_or_create(
        owner=owner, key=f"form {path} {key}"[:MAX_KEY], defaults={"fingerprint": hashlib.sha256(path.encode()).hexdigest()}
    )
    return created
