"""The Content-Security-Policy middleware (i2v/lib/csp.py): django-csp's policy, built once."""

from csp.constants import NONCE
from csp.decorators import csp_update
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory

from i2v.lib.csp import CSPMiddleware


def _respond(view):
    return CSPMiddleware(view)(RequestFactory().get("/jobs/"))


def test_it_sends_the_policy_django_csp_builds_from_the_settings(client):
    response = client.get("/login/")
    assert response["Content-Security-Policy"] == build_policy()
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_it_follows_a_views_own_changes_to_the_policy():
    @csp_update({"img-src": ["https://cdn.example"]})
    def view(request):
        return HttpResponse("ok")

    policy = _respond(view)["Content-Security-Policy"]
    assert "https://cdn.example" in policy
    assert policy != build_policy()


def test_it_leaves_a_request_that_made_a_nonce_to_django_csp(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "script-src": ["'self'", NONCE]}}

    def view(request):
        return HttpResponse(str(request.csp_nonce))

    response = _respond(view)
    assert f"'nonce-{response.content.decode()}'" in response["Content-Security-Policy"]


def test_it_keeps_a_header_a_view_set_itself():
    def view(request):
        response = HttpResponse("ok")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert _respond(view)["Content-Security-Policy"] == "default-src 'none'"
