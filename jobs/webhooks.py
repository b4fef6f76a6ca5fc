"""Provider webhooks: a provider tells us a request finished, sooner than a poll.

POST /hooks/<provider>/<token>: the token (ours, unguessable, one per request)
finds the request; the provider's own signature is checked (fal: ED25519 keys it
publishes; Replicate: the signing secret); the result is applied exactly as a
poll's would be, so a replayed or late webhook changes nothing twice.
"""

import logging
import re

from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from i2v.lib.errors import error_response, refusal
from i2v.lib.jsonout import json_response

from .providers import WebhookRefused
from .remote import RemoteRequest

logger = logging.getLogger(__name__)

# What our tokens (secrets.token_urlsafe) and provider names are made of: anything else (a NUL byte, which
# PostgreSQL refuses in a query) finds no request without asking the database.
_NAME = re.compile(r"[a-z0-9_-]{1,40}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,40}")


@csrf_exempt
@require_POST
def provider_webhook(request, provider, token):
    remote_request = None
    if _NAME.fullmatch(provider) and _TOKEN.fullmatch(token):
        remote_request = RemoteRequest.objects.filter(provider=provider, token=token).first()
    if remote_request is None:
        return refusal(404, "No such request.")
    try:
        remote = remote_request.provider_api.webhook(request)
    except WebhookRefused as refused:
        logger.warning("refused a %s webhook for %s: %s", provider, remote_request, refused)
        return error_response(401, "refused", str(refused))
    if remote.external_id and remote_request.external_id and remote.external_id != remote_request.external_id:
        return refusal(400, "The webhook is about another request.")
    changed = remote_request.apply(remote)
    if changed:
        remote_request.pipeline.advance()
    return json_response({"ok": True, "changed": changed})

