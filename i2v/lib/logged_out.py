"""A tab left open after its session ended (logged out in another tab, expired): what its htmx requests get.

login_required answers such a request with a redirect to the login page, which the browser's XMLHttpRequest
follows by itself: htmx then swapped the whole login page, header and all, into a row's expansion. A POST
that fails its CSRF check (a new login turns the token over) said "Something went wrong (403). Try again.",
which could never work. Now the whole tab goes to the login page (HX-Redirect), to come back to the page it
was on, or, logged in still, is told to reload the page.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


def to_login(request):
    """The htmx answer that takes the tab to the login page, and back to the page it shows afterwards."""
    page = request.htmx.current_url_abs_path if getattr(request, "htmx", False) else None
    return HttpResponseClientRedirect(redirect_to_login(page or "/")["Location"])


class LoginForHtmx:
    """login_required's redirect of an htmx request, as to_login()."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 302 and request.htmx and _is_login(response.get("Location", "")):
            return to_login(request)
        return response


def _is_login(location):
    return urlsplit(location).path == resolve_url(settings.LOGIN_URL)
