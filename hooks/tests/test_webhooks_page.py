"""The webhooks page: registering URLs (http(s) only, no private hosts unless allowed) and the delivery log."""

import re
from html import unescape

import pytest

from hooks.events import emit
from hooks.models import Delivery, Endpoint

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


def test_it_says_how_many_deliveries_are_older_and_pages_to_them_by_cursor(owner_client, owner, other, django_assert_num_queries):
    Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    Endpoint.objects.create(owner=other, url="https://example.com/theirs", events=ALL)
    for n in range(53):
        emit(owner.pk, "pipeline.finished", {"n": n})
    emit(other.pk, "pipeline.finished", {})
    # endpoints, a page of deliveries with their endpoints, their attempts, and the count a longer log adds
    with django_assert_num_queries(4):
        html = owner_client.get("/settings/webhooks").content.decode()
    assert "The newest 50 of 53 deliveries." in html and html.count("<tr id=\"delivery-") == 50
    older = re.search(r'href="(/settings/webhooks\?cursor=[^"]+)" data-testid="older-deliveries"', html).group(1)
    with django_assert_num_queries(4):
        rest = owner_client.get(unescape(older)).content.decode()
    assert "Older deliveries: 3 of 53." in rest and rest.count("<tr id=\"delivery-") == 3
    assert 'data-testid="older-deliveries"' not in rest and '<a href="/settings/webhooks">Newest deliveries</a>' in rest
    shown = re.findall(r'<tr id="delivery-(\d+)"', html + rest)
    assert sorted(map(int, shown)) == sorted(Delivery.objects.filter(owner=owner).values_list("id", flat=True))


def test_it_counts_no_log_that_fits_a_page(owner_client, owner, django_assert_num_queries):
    Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    emit(owner.pk, "pipeline.finished", {})
    with django_assert_num_queries(3):  # endpoints, deliveries, attempts
        html = owner_client.get("/settings/webhooks").content.decode()
    assert "The newest" not in html and "Older deliveries" not in html


@pytest.mark.parametrize("cursor", ["abc", "x" * 5000, "a\x00b", "<b>1</b>"])
def test_it_refuses_a_cursor_it_did_not_make(owner_client, cursor):
    response = owner_client.get("/settings/webhooks", {"cursor": cursor})
    assert response.status_code == 400 and "The cursor is invalid or was altered" in response.content.decode()


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
        ("https://" + "ü" * 60 + ".com/", "The host isn&#x27;t a name DNS can look up"),
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


@pytest.mark.parametrize("host", ["0x7f000001", "2130706433", "127.1", "0177.0.0.1"])
def test_it_says_why_it_refuses_an_address_written_as_a_number(owner_client, owner, settings, host):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # refused for its spelling, not for where it points
    response = owner_client.post("/settings/webhooks/add", {"url": f"http://{host}:8124/", "events": ALL})
    html = response.content.decode()
    assert response.status_code == 422 and not owner.webhook_endpoints.exists()
    assert f"Write the host as a name or a dotted IPv4 address such as 192.0.2.1 ({host} is a number)." in html
    assert "Enter a full http" not in html


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
    assert owner_client.get(f"/settings/webhooks/{mine.pk}/delete")["Location"] == "/settings/webhooks"  # deletes nothing
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


def test_it_refuses_a_url_longer_than_it_keeps_saying_so(owner_client, owner):
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/" + "x" * 3000, "events": ALL})
    html = response.content.decode()
    assert response.status_code == 422 and not owner.webhook_endpoints.exists()
    assert "A webhook URL may be at most 500 characters; this one has 3,020." in html
    assert "Enter a full http" not in html  # it is a URL, only too long
    assert 'name="url" type="url" maxlength="500"' in html


def test_it_tells_a_delivery_waiting_to_retry_from_one_never_tried(owner_client, owner):
    from datetime import datetime, timezone

    from hooks.models import Attempt, Delivery

    Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    fresh, tried = emit(owner.pk, "pipeline.finished", {}) + emit(owner.pk, "pipeline.failed", {})
    later = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    Delivery.objects.filter(pk=tried.pk).update(attempts=1, available_at=later, error="The endpoint answered 503.")
    Delivery.objects.filter(pk=fresh.pk).update(created_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    Attempt.objects.create(delivery=tried, number=1, status_code=503, error="The endpoint answered 503.", duration_ms=40)
    html = owner_client.get("/settings/webhooks").content.decode()
    row = {d.pk: html.split(f'id="delivery-{d.pk}"')[1].split("</tr>")[0] for d in (fresh, tried)}
    assert 'data-testid="delivery-status">queued<' in row[fresh.pk] and "next try" not in row[fresh.pk]
    assert 'data-testid="delivery-status">retrying<' in row[tried.pk] and "next try 2031-05-06 07:08:09 UTC" in row[tried.pk]
    assert "2030-01-02 03:04:05 UTC" in row[fresh.pk]  # in UTC, as the next try says
    assert row[tried.pk].count("The endpoint answered 503.") == 1  # in its attempt, not again beside it


def test_it_shows_an_error_its_attempts_do_not_say(owner_client, owner):
    from hooks.models import Delivery

    Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    (delivery,) = emit(owner.pk, "pipeline.finished", {})
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=6, error="Gave up after 6 attempts.")
    html = owner_client.get("/settings/webhooks").content.decode()
    assert '<p class="error">Gave up after 6 attempts.</p>' in html and "Send again" in html


def test_it_sends_a_reload_of_the_add_form_to_the_page(owner_client, owner):
    assert owner_client.post("/settings/webhooks/add", {"url": "ftp://example.com/hook", "events": ALL}).status_code == 422
    response = owner_client.get("/settings/webhooks/add")  # a reload of the page the error left in the address bar
    assert (response.status_code, response["Location"]) == (302, "/settings/webhooks")


def test_it_keeps_each_event_once_and_quotes_a_refused_one_cut_short(owner_client, owner):
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.org/big", "events": ["x" * 1_000_000]})
    assert response.status_code == 422 and len(response.content) < 100_000
    assert f"Select a valid choice. {'x' * 39}… is not one of the available choices." in response.content.decode()
    events = ["pipeline.finished"] * 3
    assert owner_client.post("/settings/webhooks/add", {"url": "https://example.org/hook", "events": events}).status_code == 302
    assert owner.webhook_endpoints.get().events == ["pipeline.finished"]
