"""i2v/lib/length_required.py: a chunked body without Content-Length is a 411 that says so, not read as empty."""

import json

from django.test import Client

from i2v.models import ApiToken
from library.tests import files
from library.tests.files import uploaded

MESSAGE = "Send the body with a Content-Length header: a chunked body (Transfer-Encoding: chunked) can&#x27;t be read here."


class ChunkedClient(Client):
    """The test client, sending its requests as a chunked body reaches Django through WSGI: with
    Transfer-Encoding: chunked and no CONTENT_LENGTH (the client itself always sets one)."""

    def request(self, **request):
        request.pop("CONTENT_LENGTH", None)
        request["HTTP_TRANSFER_ENCODING"] = "chunked"
        return super().request(**request)


def test_it_answers_a_script_in_json(owner):
    token = ApiToken.issue(owner)
    chunked = ChunkedClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = json.dumps({"name": "x", "prompts": ["a fox"]})
    response = chunked.post("/api/pipelines", body, content_type="application/json")
    assert response.status_code == 411
    error = json.loads(response.content)["error"]
    assert error["code"] == "length_required" and "Content-Length" in error["message"]
    assert not owner.pipelines.exists()


def test_it_answers_a_chunked_upload_without_reading_it(owner):
    chunked = ChunkedClient()
    chunked.force_login(owner)
    response = chunked.post("/api/library/images", {"files": [uploaded("a.png", files.png())]})
    assert response.status_code == 411 and json.loads(response.content)["error"]["code"] == "length_required"
    assert not owner.assets.exists()


def test_it_answers_a_person_with_a_page_or_a_toast(owner):
    chunked = ChunkedClient()
    chunked.force_login(owner)
    page = chunked.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ["pipeline.finished"]})
    assert page.status_code == 411 and "<h1>Length required</h1>" in page.content.decode() and MESSAGE in page.content.decode()
    toast = chunked.post("/settings/webhooks/add", {"url": "https://example.com/hook"}, HTTP_HX_REQUEST="true")
    assert toast.status_code == 411 and toast["HX-Reswap"] == "none" and MESSAGE in toast.content.decode()
    assert not owner.webhook_endpoints.exists()


def test_it_leaves_a_body_with_its_length_alone(owner_client, owner):
    response = owner_client.post("/settings/webhooks/add", {"url": "https://example.com/hook", "events": ["pipeline.finished"]})
    assert response.status_code == 302 and owner.webhook_endpoints.exists()
