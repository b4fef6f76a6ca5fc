"""The admin's addresses without NUL: Django's admin views hand a filter's value (?status__exact=),
a search and an object's id in the path to the database as they come, and PostgreSQL refuses a
text holding NUL (a DataError: a 500). No address of the admin's own holds one, so such a request
is refused with a 400 before it reaches them; the rest of the site's views check their own inputs."""

from django.urls import NoReverseMatch, reverse

from .errors import refused_page

MESSAGE = "The address holds a NUL character (%00), which no record can hold."


class AdminNulGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _holds_nul(request) and (prefix := _admin_prefix()) and request.path_info.startswith(prefix):
            return refused_page(request, 400, "Request refused", MESSAGE)
        return self.get_response(request)


def _admin_prefix():
    try:
        return reverse("admin:index")
    except NoReverseMatch:  # a URLconf without the admin
        return None


def _holds_nul(request):
    if "\x00" in request.path_info:
        return True
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())
