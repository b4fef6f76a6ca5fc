"""The webhooks page: registering URLs (http(s) only, no private hosts unless allowed) and the delivery log."""

import pytest

from hooks.events import emit
from hooks.models import Endpoint

ALL = ["pipeline.finished", "pipeline.failed", "asset.processed"]


def test_it_lists_only_the_owners_endpoints_and_deliveries(owner_client, owner, other, django_assert_max_num_queries):
    mine = Endpoint.objects.create(owner=owner, url="https://example.com/<b>hook</b>", events=ALL)
    Endpoint.objects.create(owner=other, url="https://secret.example.net/theirs", events=ALL)
    for n in range(5):
        emit(owner.pk, "pipeline.finished", {"n": n})
    emit(other.pk, "pipeline.finished", {})
    # session, user, endpoints, deliveries with their endpoints, their attempts: not one per row
    with django_assert_max_num_queries(5):
        response = owner_client.get("/settings/webhooks")
    html = response.content.decode()
    assert response.status_code == 200
    assert "https://example.com/&lt;b&gt;hook&lt;/b&gt;" in html and "<b>hook" not in html
    assert mine.secret in html and "secret.example.net" not in html
    assert html.count('data-status="queued"') == 5


def test_it_requires_login(client):
    assert client.get("/settings/webhooks").status_code == 302


def test_it_registers_a_url_with_a_secret_of_its_own(owner_client, owner):
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ["pipeline.finished"]})
    assert response.status_code == 302
    endpoint = owner.webhook_endpoints.get()
    assert endpoint.events == ["pipeline.finished"] and endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    owner_client.post("/settings/webhooks/add", {"url": "https://example.com/other", "events": ALL})
    assert len(set(owner.webhook_endpoints.values_list("secret", flat=True))) == 2


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "Webhook URLs must start with http:// or https://."),
        ("javascript:alert(1)", "Enter a full http:// or https:// URL."),
        ("file:///etc/passwd", "Enter a full http:// or https:// URL."),
        ("http://127.0.0.1:8000/hook", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://localhost/hook", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://169.254.169.254/latest/meta-data", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[::1]/hook", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        # loopback however written: the root's trailing dot, an IPv4 address inside an IPv6 one
        ("http://x.localhost./hook", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[::127.0.0.1]:9/", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[::ffff:10.0.0.1]/", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[64:ff9b::7f00:1]:9/", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[64:ff9b:1::1]/", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("http://[2002:a9fe:a9fe::1]/", "This server doesn&#x27;t send webhooks to loopback or private addresses."),
        ("https://user:pw@example.com/hook", "Put no user name or password in the URL"),
        ("https://example.com:99999/hook", "The port must be a number from 1 to 65535."),
        ("https://example.com:0/hook", "The port must be a number from 1 to 65535."),
    ],
)
def test_it_refuses_urls_it_will_not_call(owner_client, owner, url, message):
    response = owner_client.post("/settings/webhooks/add", {"url": url, "events": ALL})
    assert response.status_code == 422 and message in response.content.decode()
    assert not owner.webhook_endpoints.exists()


def test_it_refuses_a_url_set_up_already(owner_client, owner, other):
    Endpoint.objects.create(owner=other, url="https://example.com/hook", events=ALL)  # another account's: no matter
    assert owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ALL}).status_code == 302
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ["pipeline.failed"]})
    assert response.status_code == 422 and "This URL is set up already" in response.content.decode()
    assert owner.webhook_endpoints.count() == 1


def test_it_allows_loopback_when_configured(owner_client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    response = owner_client.post("/settings/webhooks/add", {"url": "http://127.0.0.1:9/hook", "events": ALL})
    assert response.status_code == 302 and owner.webhook_endpoints.exists()


def test_it_needs_an_event(owner_client, owner):
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook"})
    assert response.status_code == 422 and "Choose at least one event." in response.content.decode()
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ["nope"]})
    assert response.status_code == 422 and not owner.webhook_endpoints.exists()


def test_it_limits_endpoints_per_user(owner_client, owner, settings):
    settings.WEBHOOK_ENDPOINTS_MAX = 1
    Endpoint.objects.create(owner=owner, url="https://example.com/1", events=ALL)
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/2", "events": ALL})
    assert response.status_code == 422 and "At most 1 webhook URLs per account." in response.content.decode()


def test_it_pauses_and_deletes_only_the_owners(owner_client, owner, other):
    mine = Endpoint.objects.create(owner=owner, url="https://example.com/1", events=ALL)
    theirs = Endpoint.objects.create(owner=other, url="https://example.com/2", events=ALL)
    assert owner_client.post(f"/settings/webhooks/{mine.pk}/toggle").status_code == 302
    mine.refresh_from_db()
    assert not mine.is_active
    assert owner_client.post(f"/settings/webhooks/{theirs.pk}/toggle").status_code == 404
    assert owner_client.post(f"/settings/webhooks/{theirs.pk}/delete").status_code == 404
    assert owner_client.get(f"/settings/webhooks/{mine.pk}/delete").status_code == 405
    assert owner_client.post(f"/settings/webhooks/{mine.pk}/delete").status_code == 302
    assert not owner.webhook_endpoints.exists() and other.webhook_endpoints.exists()


def test_it_says_what_became_of_each_attempt(owner_client, owner):
    from hooks.models import Attempt

    Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    delivery = emit(owner.pk, "pipeline.finished", {})[0]
    Attempt.objects.create(delivery=delivery, number=1, error="Could not resolve nowhere.example: Name or service not known.", duration_ms=1)
    Attempt.objects.create(delivery=delivery, number=2, status_code=503, error="The endpoint answered 503.", duration_ms=40)
    html = owner_client.get("/settings/webhooks").content.decode()
    assert "Could not resolve nowhere.example: Name or service not known. (1 ms)" in html  # not "no answer in 1 ms"
    assert "503 in 40 ms: The endpoint answered 503." in html
