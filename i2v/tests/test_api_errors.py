"""The API's errors that Django raises before any view of ours runs (i2v/lib/errors.py: CSRF_FAILURE_VIEW,
handler400): JSON with the right status under /api/, as every other API error; Django's pages elsewhere."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conftest import make_asset
from jobs.tests.conftest import make_source
from library.models import Asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict():
    return Client(enforce_csrf_checks=True)


def _error(response):
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)["error"]


@pytest.mark.parametrize(
    "method, path",
    [("post", "/api/pipelines"), ("delete", "/api/images/1"), ("post", "/api/images/delete"), ("post", "/api/images/1/retry-processing")],
)
def test_it_answers_a_post_without_login_with_401_json(strict, method, path):
    response = getattr(strict, method)(path, "{}", content_type="application/json")

    assert response.status_code == 401
    assert _error(response)["code"] == "unauthenticated"


def test_it_answers_a_sessions_post_without_the_csrf_token_with_403_json_and_does_nothing(strict, owner):
    source, asset = make_source(owner), make_asset(owner)
    strict.force_login(owner)
    new = {"sources": [source.pk], "prompts": ["a fox"], "i2i_enabled": True, "i2i_model": "local-i2i"}

    created = strict.post("/api/pipelines", new, content_type="application/json")
    deleted = strict.delete(f"/api/images/{asset.pk}")

    assert created.status_code == deleted.status_code == 403
    assert _error(created)["code"] == _error(deleted)["code"] == "csrf_failed"
    assert not owner.pipelines.exists() and Asset.objects.filter(pk=asset.pk).exists()
    # The same requests with the session's token go through: the refusal was the token's.
    strict.get("/library/")  # sets the CSRF cookie
    token = {"HTTP_X_CSRFTOKEN": strict.cookies["csrftoken"].value}
    assert strict.post("/api/pipelines", new, content_type="application/json", **token).status_code == 202
    assert strict.delete(f"/api/images/{asset.pk}", **token).status_code == 204


def test_it_keeps_djangos_page_for_a_pages_post_without_the_token(strict, owner):
    strict.force_login(owner)

    response = strict.post("/jobs/bulk", {"action": "favorite"})

    assert response.status_code == 403 and response["Content-Type"].startswith("text/html")


def test_it_answers_a_body_over_the_field_limit_with_413_json(owner_client, owner, settings):
    owner.is_staff = True
    owner.save()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = owner_client.post("/api/library/generate-thumbnails", {"mode": "all", "pad": "x" * 2000})

    assert response.status_code == 413
    assert _error(response) == {"code": "too_large", "message": "The request's fields are over 1,000 bytes (files apart).", "field": None}


def test_it_answers_too_many_fields_with_400_json_naming_the_limit(owner_client, owner, settings):
    owner.is_staff = True
    owner.save()
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = owner_client.post("/api/library/generate-thumbnails", {f"f{i}": "1" for i in range(11)})

    assert response.status_code == 400
    assert _error(response)["message"] == "Send at most 10 fields."


def test_it_answers_an_upload_of_too_many_files_naming_the_limit(owner_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [SimpleUploadedFile(f"{i}.png", b"x") for i in range(3)]

    response = owner_client.post("/api/library/images", {"files": files})

    assert response.status_code == 400
    assert _error(response) == {"code": "too_many_files", "message": "Send at most 2 files at a time.", "field": "files"}


def test_it_answers_a_refused_host_without_djangos_words(client, settings):
    settings.ALLOWED_HOSTS = ["i2v.example.com"]
    response = client.get("/api/pipelines", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert _error(response) == {"code": "invalid", "message": "The request was refused.", "field": None}



def test_it_answers_a_pages_body_over_the_field_limit_with_a_page_naming_the_limit(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = owner_client.post("/jobs/bulk", {"action": "favorite", "pad": "x" * 2000})

    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<h1>Request refused</h1>" in html and "The request&#x27;s fields are over 1,000 bytes (files apart)." in html


def test_it_answers_an_htmx_request_over_a_limit_with_a_toast_that_leaves_the_target(owner_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = owner_client.post("/jobs/bulk", {f"f{i}": "1" for i in range(11)}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400 and response["HX-Reswap"] == "none"
    assert response.content.decode().strip() == (
        '<div id="toast" class="toast error" role="alert" hx-swap-oob="true">Send at most 10 fields.</div>'
    )
