"""schemathesis against the JSON API, from its own OpenAPI description (/api/openapi.json):
whatever it sends, within or outside the schema, the answer is never a 5xx.

It calls the Django WSGI app in this process (no server), authenticated with an API
token of a staff user who has data (so ids and lists are not all empty), inside
the test's transaction. Bounded in examples per operation, so CI stays fast.
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from conftest import make_pipeline
from i2v.models import ApiToken
from i2v.openapi import description
from i2v.wsgi import application
from media_processing import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def api(db, owner, settings, monkeypatch):
    # The app runs in the test's transaction: the WSGI handler must not close its connection
    # after each request, as Django's own test client makes sure too.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.RATE_LIMITS_ENABLED = False  # a 429 is an answer, but it would hide the rest
    monkeypatch.setattr(tasks.backfill, "apply_async", lambda *a, **k: None)  # no broker here
    owner.is_staff = True
    owner.save()
    make_pipeline(owner, outputs=3, tags=["fuzz"])
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(owner):
    return ApiToken.issue(owner)


# The document GET /api/openapi.json serves (test_openapi.py checks that they are the same),
# loaded when the module is: schemathesis makes one test per operation from it.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(description())))
schema.app = application


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_it_never_answers_with_a_server_error(case, token):
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}\n{response.text[:2000]}"
