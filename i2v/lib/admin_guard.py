"""What the admin would hand to the database unchecked, refused with a 400 before it reaches it.

Django's admin views pass a filter's value (?status__exact=), a search and an object's id in the path to the
database as they come, and some of what a person can type there fails only as the query runs (a 500):
- a text holding NUL, which PostgreSQL refuses (a DataError);
- a year no date holds (?created_at__year=99999): the lookup's bounds are made as the query is compiled;
- ids to act on (the action form's `_selected_action`) that no primary key can be, an id past a bigint or
  a word: the action's queryset fails as it is read.
No address or form of the admin's own holds one, so such a request gets a page saying what is wrong; the rest
of the site's views check their own inputs.
"""

from django.apps import apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import NoReverseMatch, reverse

from .errors import refused_page
from .ids import ID_MAX, whole_number

NUL = "The address holds a NUL character (%00), which no record can hold."
YEAR = "A year in the address must be a whole number from 1 to 9999."
SELECTED = "The records to act on are named by their ids, and {} is none."
YEAR_LOOKUPS = {"year", "iso_year"}


class AdminInputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        prefix = _admin_prefix()
        if prefix and request.path_info.startswith(prefix):
            refusal = _refusal(request, request.path_info[len(prefix) :])
            if refusal:
                return refused_page(request, 400, "Request refused", refusal)
        return self.get_response(request)


def _admin_prefix():
    try:
        return reverse("admin:index")
    except NoReverseMatch:  # a URLconf without the admin
        return None


def _refusal(request, path):
    """Why the admin can't be handed this request ("" when it can); `path` is the address past the admin's."""
    if _holds_nul(request):
        return NUL
    for key, values in request.GET.lists():
        if YEAR_LOOKUPS & set(key.split("__")[1:]) and not all(_a_year(value) for value in values):
            return YEAR
    if request.method == "POST" and ACTION_CHECKBOX_NAME in request.POST:
        pk = _primary_key(path)
        wrong = next((v for v in request.POST.getlist(ACTION_CHECKBOX_NAME) if pk and not _a_key(pk, v)), None)
        if wrong is not None:
            return SELECTED.format(f"“{wrong[:20]}”")
    return ""


def _holds_nul(request):
    if "\x00" in request.path_info:
        return True
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


def _a_year(text):
    year = whole_number(text.strip())
    return year is not None and 1 <= year <= 9999


def _primary_key(path):
    """The primary key field of the model whose pages `path` ("app/model/...") is, or None."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    try:
        return apps.get_model(parts[0], parts[1])._meta.pk
    except (LookupError, ValueError):
        return None


def _a_key(pk, text):
    if isinstance(pk, models.IntegerField):  # BigAutoField and its kin
        number = whole_number(text)
        return number is not None and number <= ID_MAX
    try:
        pk.to_python(text)
    except ValidationError:
        return False
    return "\x00" not in text
