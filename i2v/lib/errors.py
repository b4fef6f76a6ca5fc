"""JSON errors for the API: {"error": {"code", "message", "field"}} with the right 4xx."""

from functools import wraps

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpResponse, HttpResponseNotFound
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.views import defaults

from .auth import bearer
from .logged_out import to_login
from .jsonout import json_response


class ApiError(Exception):
    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def response(self):
        return error_response(self.status, self.code, self.message, self.field)


def error_response(status, code, message, field=None):
    return json_response({"error": {"code": code, "message": message, "field": field}}, status=status)


_CODES = {400: "invalid", 404: "not_found", 413: "too_large"}


def refusal(status, message):
    """error_response() with the usual code of `status` (400 invalid, 404 not_found, 413 too_large)."""
    return error_response(status, _CODES[status], message)


CSRF_MESSAGE = "The CSRF token is missing or wrong: browsers send X-CSRFToken, scripts a bearer token."


def unauthenticated():
    return error_response(401, "unauthenticated", "Log in or send 'Authorization: Bearer <token>'.")


def for_scripts(request):
    """Whether an error is answered in JSON: on the API's paths and the webhooks providers send us, and to
    any request with a bearer token (a script downloading files, say), which no browser sends."""
    return request.path_info.startswith(("/api/", "/hooks/")) or bearer(request) is not None


def not_found(request, exception):
    """handler404: a path no route matches (an id no row can have among them: <id:...>), as JSON
    under /api/ like every other API error; a file under the media URL, a few bytes of text (an
    <img> or a player asks, not a person); else templates/404.html, a page with the navigation."""
    if for_scripts(request):
        return refusal(404, "No such object.")
    if request.path.startswith(settings.MEDIA_URL):
        return HttpResponseNotFound("Not Found\n", content_type="text/plain; charset=utf-8")
    return defaults.page_not_found(request, exception)


def unreadable(exception, field=None):
    """The ApiError of a request Django refused to read: its body over a limit (saying which), a multipart body
    it can't parse (saying why), a BadRequest (with its message); anything else (a host not allowed, a path
    that climbs) without Django's words, which may name the server's files."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ApiError(413, "too_large", f"The request's fields are over {limit:,} bytes (files apart).", field)
    if isinstance(exception, TooManyFieldsSent):
        return ApiError(400, "too_many_fields", f"Send at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields.", field)
    if isinstance(exception, TooManyFilesSent):
        return ApiError(400, "too_many_files", f"Send at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files at a time.", field)
    if isinstance(exception, MultiPartParserError):
        return ApiError(400, "invalid", f"The multipart body can't be read: {exception}", field)
    if isinstance(exception, BadRequest):
        # Raised with a message for the person who sent the request (a view's, or Django's about a form's charset).
        return ApiError(400, "invalid", str(exception) or "The request was refused.", field)
    return ApiError(400, "invalid", "The request was refused.", field)


def bad_request(request, exception):
    """handler400 (a body over Django's limits, a suspicious request): JSON for scripts, else a page or a toast
    that says which limit (Django's page said only "Bad Request (400)")."""
    error = unreadable(exception)
    if for_scripts(request):
        return error.response()
    return refused_page(request, error.status, "Request refused", error.message)


def refused_page(request, status, title, message):
    """A person's request refused (`status`, `message`) outside a page's own view: to an htmx request the
    message as the page's toast, out of band, its target left as it is; else a page of its own (error.html)."""
    if request.headers.get("HX-Request") == "true":
        return toast(message, status)
    return HttpResponse(render_to_string("error.html", {"title": title, "message": message}), status=status)


def toast(message, status=422):
    """An htmx request refused: `message` in the page's toast, out of band; the request's target is left as it is."""
    response = HttpResponse(render_to_string("error.html#toast", {"message": message}), status=status)
    response["HX-Reswap"] = "none"
    return response


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW. A script's POST without a login is 401, like any API call without one (the CSRF
    check runs before the view's login check); a session's without the token is 403 csrf_failed. A person's
    is a page left open while they logged out, or in again (a login turns the token over): a logged-out tab
    goes to the login page (logged_out.py), a logged-in one is told to reload (Django's page said "CSRF
    verification failed", its style refused by our CSP)."""
    if for_scripts(request):
        return error_response(403, "csrf_failed", CSRF_MESSAGE) if request.user.is_authenticated else unauthenticated()
    if request.headers.get("HX-Request") == "true" and not request.user.is_authenticated:
        return to_login(request)
    if not request.user.is_authenticated:
        return refused_page(request, 403, "Logged out", LOGGED_OUT_MESSAGE)
    return refused_page(request, 403, "Page out of date", STALE_PAGE_MESSAGE)


LOGGED_OUT_MESSAGE = "You were logged out since this page was opened, so nothing was sent: log in, then send it again."
STALE_PAGE_MESSAGE = ("This page is out of date (you logged in again since it was opened), so nothing was sent: "
                      "reload it and send it again.")  # fmt: skip


def form_error(form, status=400):
    """The first error of a bound, invalid form, naming its field."""
    field, errors = next(iter(form.errors.items()))
    message = errors[0]
    return ApiError(status, "invalid", message, None if field == "__all__" else field)


def _headers_only(response):
    """`response` to a HEAD: its headers (the length its body would have), no body."""
    if response.streaming:
        response.close()  # its generator's files and cursors, now
        response.streaming_content = []
    else:
        response["Content-Length"] = len(response.content)
        response.content = b""
    return response


def api_view(methods=("GET",), login_required=True):
    """Wrap a function view as a JSON endpoint: auth, allowed methods, JSON errors.

    Every failure the view raises (ApiError, Http404, PermissionDenied) leaves as
    a JSON error instead of an HTML page or a redirect to the login form.
    """

    allowed = (*methods, "HEAD") if "GET" in methods else methods  # HEAD wherever GET: its headers, no body

    def decorator(view):
        def answer(request, *args, **kwargs):
            if request.method not in allowed:
                response = error_response(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(allowed)
                return response
            if login_required and not request.user.is_authenticated:
                return unauthenticated()
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Http404:
                return error_response(404, "not_found", "No such object.")
            except PermissionDenied:
                return error_response(403, "forbidden", "You may not do that.")

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = answer(request, *args, **kwargs)
            return _headers_only(response) if request.method == "HEAD" else response

        return wrapped

    return decorator
