"""The pipelines newer than a Jobs page's top row, and the bar that offers them ("3 new pipelines — Show").

A Jobs page at its first page, newest first (the default order), knows its top row. Pipelines made since
elsewhere (another tab, a script through the API, a rerun from a pipeline's page) that match the page's
filters come before that row. The page asks how many when it is seen again (its tab shown, its window
focused) and with each live check it makes anyway while rows are at work (views.watch: one request either
way, none while the tab is hidden or nothing is at work; static/js/lists.js). "Show" puts them above the top
row (views.newer) a page at a time, the oldest of them first, so that no gap is ever left between them and
the rows below, and the bar says what remains.

The top row is named by its backward cursor (i2v/lib/pagination.py, the API's prev_cursor): signed, so no
page can make one up, and in the key the list is ordered by, so "newer" is exactly "comes before it" and the
new rows are the backward page the list code already finds. An empty list has no top row: any match is new,
and "Show" loads the list again. In another order than newest first, new pipelines don't come above the top
row, so there is no bar.
"""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.template.defaultfilters import pluralize

from i2v.lib.pagination import CursorError, decode_cursor, encode_cursor
from i2v.lib.urls import url_of

from .forms import JobsFilterForm
from .models import Pipeline

# How far a count goes: "100+ new pipelines" is all a bar says past it, and the count reads no further.
NEWER_MOST = 100
NEWEST = Pipeline.ORDERINGS["newest"]


class NewerError(ValueError):
    pass


class NewerForm(JobsFilterForm):
    """What a page asks about its new pipelines: its filters, its top row's backward cursor (`cursor`;
    none for an empty list) and how many it says are new (`seen`, 0 if not sent: an answer that would say
    the same is a 204). Its sort is newest first, the default, or nothing."""

    seen = forms.IntegerField(required=False, min_value=0, max_value=NEWER_MOST)

    def clean(self):
        data = super().clean()
        if data.get("sort") not in (None, "", NEWEST.name):
            self.add_error("sort", "New pipelines are looked for in the newest-first list only.")
        return data


def asked(request):
    """(the NewerForm of `request`, the key of the page's top row or None); NewerError saying what is wrong
    with parameters no page of ours sends (a cursor altered, of another order, or not a top row's)."""
    form = NewerForm(request.GET, default_page_size=settings.JOBS_PAGE_SIZE)
    if not form.is_valid():
        raise NewerError(" ".join(message for messages in form.errors.values() for message in messages))
    cursor = form.cleaned_data["cursor"]
    if not cursor:
        return form, None
    try:
        top, backwards = decode_cursor(Pipeline, NEWEST, cursor)
    except CursorError as exc:
        raise NewerError(str(exc)) from None
    if not backwards:
        raise NewerError("The cursor names no list's top row; load the list again.")
    return form, top


def top_cursor(page):
    """The backward cursor of a page's top row, "" for an empty page."""
    return encode_cursor(NEWEST, NEWEST.key_of(page.items[0]), backwards=True) if page.items else ""


class Newer:
    """A page's bar of new pipelines: the filters and top row it asks about, and how many it says are new."""

    def __init__(self, filters, cursor, count=0, seen=0):
        self.filters, self.cursor, self.count, self.seen = filters, cursor, count, seen

    @classmethod
    def on_page(cls, form, page):
        """The bar of a Jobs list page as it is first drawn (saying nothing), or None where there is none:
        another order than newest first, or a page reached by a cursor (its top row is not the list's)."""
        if not form.is_valid() or form.ordering.name != NEWEST.name or form.cleaned_data["cursor"]:
            return None
        return cls(form.filters, top_cursor(page))

    @classmethod
    def counted(cls, pipelines, form, top, cursor):
        """The bar of `pipelines` (the user's) newer than `top` (the key of the row `cursor` names) for the
        form's filters, counted up to NEWER_MOST: one bounded statement."""
        count = pipelines.newer_count(form.filters, top, NEWER_MOST)
        return cls(form.filters, cursor, count, form.cleaned_data["seen"] or 0)

    @property
    def moved(self):
        """Whether the count is news to the page (it said `seen`): a live check then answers with the bar."""
        return self.count != self.seen

    def _query(self, **extra):
        params = {name: value for name, value in self.filters.items() if value}
        if params.get("favorites"):
            params["favorites"] = "1"
        if self.cursor:
            params["cursor"] = self.cursor
        return urlencode({**params, **extra}, safe=":")  # a cursor's colon as it is: a page's bytes are budgeted

    @property
    def params(self):
        """What the page's live check sends with its rows (views.watch); `seen` left out where it is 0 and
        the cursor says the page asks (the first page's bytes are budgeted)."""
        return self._query(seen=self.count) if self.count or not self.cursor else self._query()

    @property
    def show_url(self):
        """Where "Show" gets the new rows (views.newer); for an empty list, the list (its first page)."""
        if self.cursor:
            return f"{url_of('jobs:newer')}?{self._query()}"
        query = self._query()
        return url_of("jobs:page") + (f"?{query}" if query else "")

    @property
    def label(self):
        if self.count >= NEWER_MOST:
            return f"{NEWER_MOST}+ new pipelines"
        return f"{self.count} new pipeline{pluralize(self.count)}"
