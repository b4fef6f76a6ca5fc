import json

import pytest
from django.core.cache import caches

from i2v.celery import app

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture
def dead_broker():
    before = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.pool.force_close_all()
    try:
        yield
    finally:
        app.conf.broker_url = before
        app.pool.force_close_all()


def _checks(response):
    return {name.split("(")[0]: result for name, result in json.loads(response.content).items()}


def test_it_is_200_when_everything_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert _checks(response) == {"Database": "OK", "Cache": "OK", "Broker": "OK", "Storage": "OK"}
    assert "no-cache" in response["Cache-Control"]


def test_it_needs_no_login(client, db):
    assert client.get("/healthz").status_code == 200  # a load balancer has no session


def test_it_is_503_when_the_cache_is_down(client, db, settings):
    settings.CACHES = DEAD_REDIS
    caches._settings = None
    try:
        del caches["default"]
    except (AttributeError, KeyError):
        pass
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = _checks(response)
    assert checks["Cache"] != "OK" and checks["Database"] == "OK"


def test_it_is_503_when_the_broker_is_down(client, db, dead_broker):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert _checks(response)["Broker"].startswith("Unavailable: The broker can't be reached")


def test_it_is_503_when_the_storage_cant_write(client, db, settings, tmp_path):
    blocked = tmp_path / "read-only"
    blocked.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocked / "media"
    response = client.get("/healthz")
    assert response.status_code == 503 and _checks(response)["Storage"] != "OK"
