"""A database outage seen from the web: 503 with Retry-After, never a 500
(JSON on the API, a short page elsewhere), and nothing cached on the way."""

import pytest
from django.db import OperationalError
from django.test import Client


@pytest.fixture
def down(db):
    """Every query fails the way a stopped PostgreSQL makes it fail (undone
    before the test database rolls back, which needs queries)."""

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
        patch.setattr("django.db.backends.utils.CursorWrapper.executemany", refuse)
        yield


@pytest.fixture
def quiet_client(owner):
    # The web answers; the test client must not re-raise what the server handled.
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


def test_it_answers_the_api_with_a_json_503(quiet_client, down):
    response = quiet_client.get("/api/pipelines")

    assert response.status_code == 503
    assert response["Retry-After"] == "5" and response["Cache-Control"] == "no-store"
    assert response.json()["error"]["code"] == "unavailable"


def test_it_answers_a_page_with_a_readable_503(quiet_client, down):
    response = quiet_client.get("/jobs/")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Back in a moment" in response.content and b"Nothing you submitted is lost" in response.content


def test_it_answers_503_when_the_session_itself_needs_the_database(quiet_client, down, settings):
    # The session is read before any view runs: handler500 sees that failure.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"

    response = quiet_client.get("/library/")

    assert response.status_code == 503


def test_it_answers_an_api_token_request_with_503(db, down):
    response = Client(raise_request_exception=False).get("/api/pipelines", HTTP_AUTHORIZATION="Bearer some-token")

    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


def test_it_keeps_the_json_shape_for_other_api_failures(quiet_client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("jobs.models.PipelineQuerySet.jobs_list", broken)

    response = quiet_client.get("/api/pipelines")

    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"


def test_it_answers_a_pages_failure_with_a_page_that_says_what_to_do(quiet_client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("jobs.models.PipelineQuerySet.jobs_list", broken)

    response = quiet_client.get("/jobs/")

    assert response.status_code == 500 and "<h1>Something went wrong</h1>" in response.content.decode()
    assert "it was logged. Try again in a moment." in response.content.decode()
