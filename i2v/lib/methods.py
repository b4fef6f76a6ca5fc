"""Requests in a method a URL doesn't answer: a plain form's action URL asked for by GET, and the 405 page.

A plain form with an error is drawn again at the URL it posted to (a 422 of the page), so that URL is
what the address bar holds: a reload, a new tab or a bookmark then GETs an URL that only takes POST.
Django's answer is a 405 with an empty body, a blank page. posted_to() sends that GET to the page the
form is on instead; any other 405 a person meets gets a page with the navigation (MethodNotAllowedPage).
Scripts keep their JSON errors (i2v/lib/errors.py api_view(), for_scripts()).
"""

from functools import wraps

from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .errors import for_scripts


def posted_to(page):
    """require_POST for a plain form's action URL, whose GET (or HEAD) redirects to `page` (a URL name)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in ("GET", "HEAD"):
                return redirect(page)
            if request.method != "POST":
                return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def unasked(request):
    """For a plain form's POST (no JavaScript) of an action that asks first and was not asked yet, the redirect
    to its confirmation page, the same URL by GET (which does nothing); None once asked. htmx asks with
    hx-confirm; a form with data-confirm asks in app.js, which adds confirm=1."""
    if request.htmx or request.POST.get("confirm") == "1":
        return None
    return redirect(request.path)


class MethodNotAllowedPage:
    """A 405 with no body, to a browser: the 405 page, with the navigation and the Allow header kept."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.streaming or response.content or for_scripts(request):
            return response
        page = TemplateResponse(request, "405.html", status=405)
        if "Allow" in response:
            page["Allow"] = response["Allow"]
        return page.render()
