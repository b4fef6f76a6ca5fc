"""GET /api/openapi.json: the JSON API described in OpenAPI 3.1, agreeing with docs/api.md and the URLs."""

import re
from pathlib import Path

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[2]


def _api_routes():
    """'/api/...' routes of the URLconf, with <id:x> written as {id}."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    routes = {"/" + re.sub(r"<id:\w+>", "{id}", r) for r in walk(get_resolver().url_patterns)}
    return {r for r in routes if r.startswith("/api/") and r != "/api/openapi.json"}


def test_it_serves_an_openapi_31_document_to_anyone(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    refused = Client(enforce_csrf_checks=True).post("/api/openapi.json", "{}", content_type="application/json")
    assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD")  # only read, whoever asks


def test_it_describes_every_api_url_and_nothing_else(client):
    assert set(client.get("/api/openapi.json").json()["paths"]) == _api_routes()


def test_it_describes_every_endpoint_of_docs_api_md(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    documented = re.findall(r"^## `(GET|POST|DELETE) (/api/[^`]+)`", (ROOT / "docs" / "api.md").read_text(), re.M)
    assert documented
    for method, path in documented:
        assert method.lower() in paths[re.sub(r"<\w+>", "{id}", path)], (method, path)


def test_it_resolves_every_reference(client):
    doc = client.get("/api/openapi.json").json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', __import__("json").dumps(doc)))
    assert refs and refs <= set(doc["components"]["schemas"])
