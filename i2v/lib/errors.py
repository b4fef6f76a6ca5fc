"""JSON errors for the API: {"error": {"code", "message", "field"}} with the right 4xx."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.conf import settings
from django.http import Http404, HttpResponseNotFound, JsonResponse
from django.views import defaults


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
    return JsonResponse({"error": {"code": code, "message": message, "field": field}}, status=status)


def not_found(request, exception):
    """handler404: a path no route matches (an id no row can have among them: <id:...>), as JSON
    under /api/ like every other API error; a file under the media URL, a few bytes of text (an
    <img> or a player asks, not a person); else templates/404.html, a page with the navigation."""
    if request.path.startswith("/api/"):
        return error_response(404, "not_found", "No such object.")
    if request.path.startswith(settings.MEDIA_URL):
        return HttpResponseNotFound("Not Found\n", content_type="text/plain; charset=utf-8")
    return defaults.page_not_found(request, exception)


def form_error(form, status=400):
    """The first error of a bound, invalid form, naming its field."""
    field, errors = next(iter(form.errors.items()))
    message = errors[0]
    return ApiError(status, "invalid", message, None if field == "__all__" else field)


def api_view(methods=("GET",), login_required=True):
    """Wrap a function view as a JSON endpoint: auth, allowed methods, JSON errors.

    Every failure the view raises (ApiError, Http404, PermissionDenied) leaves as
    a JSON error instead of an HTML page or a redirect to the login form.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = error_response(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if login_required and not request.user.is_authenticated:
                return error_response(
                    401, "unauthenticated", "Log in or send 'Authorization: Bearer <token>'."
                )
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Http404:
                return error_response(404, "not_found", "No such object.")
            except PermissionDenied:
                return error_response(403, "forbidden", "You may not do that.")

        return wrapped

    return decorator
