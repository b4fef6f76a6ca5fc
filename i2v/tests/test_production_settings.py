"""The production switch's effect on requests: HTTPS behind the proxy, cookies, /healthz exempt."""

import pytest
from django.test import override_settings

PRODUCTION = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@pytest.fixture
def production(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    settings.MIDDLEWARE = list(settings.MIDDLEWARE)  # SecurityMiddleware reads its settings when built


def test_it_redirects_plain_http_to_https(production, client):
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"


def test_it_trusts_the_proxys_forwarded_scheme(production, client):
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_it_sets_only_secure_cookies(production, client, owner):
    response = client.post(
        "/login/", {"username": "alice", "password": "alice-password-1"}, HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] and response.cookies["csrftoken"]["secure"]


def test_it_answers_the_healthcheck_over_plain_http(production, client, db):
    # The container healthcheck calls the app server directly, without the proxy's header.
    assert client.get("/healthz").status_code == 200


@override_settings()
def test_it_sends_no_hsts_by_default(client):
    assert "Strict-Transport-Security" not in client.get("/login/")
