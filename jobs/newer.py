"""The pipelines newer than a Jobs page's top row, and the bar that offers them ("3 new pipelines — Show").

A Jobs page at its first page, newest first (the default order), knows its top row. Pipelines made since
elsewhere (another tab, a script through the API, a rerun from a pipeline's page) that match the page's
filters come before that row. The page asks how many when it is seen again (its tab shown, its window
focused) and with each live check it makes anyway while rows are at work (views.watch: one request either
way, none while the tab is hidden or nothing is at work; static/js/lists.js). "Show" puts them above the top
row (views.newer) a page at a time, the oldest of them first, so that no gap is ever left between them and
the rows below, and the bar says what remains.

The top row is named by its key in the list's order (`top`: its created_at in microseconds and its id), so
"newer" is exactly "comes before it", and the new rows are the backward page the list code already finds
(the API's prev_cursor). A key, not a signed cursor: the first page's bytes are budgeted (a signed cursor
took 114 of them), and a key only bounds a query of the user's own pipelines, so one a client makes up
shows nothing of anyone else's; it is checked for a well-formed instant and id. An empty list has no top
row: any match is new, and "Show" loads the list again. In another order than newest first, new pipelines
don't come above the top row, so there is no bar.
"""

import datetime
import re
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.template.defaultfilters import pluralize

from i2v.lib.ids import is_plausible_id
from i2v.lib.pagination import EPOCH, encode_cursor
from i2v.lib.urls import url_of

from .forms import JobsFilterForm
from .models import Pipeline

# How far a count goes: "100+ new pipelines" is all a bar says past it, and the count reads no further.
NEWER_MOST = 100
NEWEST = Pipeline.ORDERINGS["newest"]


class NewerError(ValueError):
    pass


_TOP = re.compile(r"([0-9]{1,18})_([0-9]{1,19})")
_MICROSECOND = datetime.timedelta(microseconds=1)


class NewerForm(JobsFilterForm):
    """What a page asks about its new pipelines: its filters, its top row's key (`top`; none for an empty
    list) and how many it says are new (`seen`, 0 if not sent: an answer that would say the same is a 204).
    Its sort is newest first, the default, or nothing."""

    top = forms.CharField(required=False, max_length=40)
    seen = forms.IntegerField(required=False, min_value=0, max_value=NEWER_MOST)

    def clean_top(self):
        """[created_at, id] of "<microseconds>_<id>", or None."""
        value = self.cleaned_data["top"]
        if not value:
            return None
        match = _TOP.fullmatch(value)
        try:
            at = EPOCH + int(match[1]) * _MICROSECOND
        except (TypeError, OverflowError):  # no match; past the year 9999
            raise forms.ValidationError("Not a row's key (<microseconds>_<id>); load the list again.") from None
        if not is_plausible_id(int(match[2])):
            raise forms.ValidationError("Not a row's key: no row has that id; load the list again.")
        return [at, int(match[2])]

    def clean(self):
        data = super().clean()
        if data.get("sort") not in (None, "", NEWEST.name):
            self.add_error("sort", "New pipelines are looked for in the newest-first list only.")
        return data


def asked(request):
    """The valid NewerForm of `request`; NewerError saying what is wrong with parameters no page of ours sends."""
    form = NewerForm(request.GET, default_page_size=settings.JOBS_PAGE_SIZE)
    if not form.is_valid():
        raise NewerError(" ".join(message for messages in form.errors.values() for message in messages))
    return form


def top_key(page):
    """The key of a page's top row as a bar sends it, "" for an empty page."""
    if not page.items:
        return ""
    created_at, pk = NEWEST.key_of(page.items[0])
    return f"{(created_at - EPOCH) // _MICROSECOND}_{pk}"


def backward_cursor(top):
    """The list's cursor to the rows before `top` (a key), newest first: its backward page is the newer ones."""
    return encode_cursor(Pipeline, NEWEST, top, backwards=True)


class Newer:
    """A page's bar of new pipelines: the filters and top row (`top`, as top_key() writes it) it asks about,
    and how many it says are new."""

    def __init__(self, filters, top, count=0, seen=0):
        self.filters, self.top, self.count, self.seen = filters, top, count, seen

    @classmethod
    def on_page(cls, form, page):
        """The bar of a Jobs list page as it is first drawn (saying nothing), or None where there is none:
        another order than newest first, or a page reached by a cursor (its top row is not the list's)."""
        if not form.is_valid() or form.ordering.name != NEWEST.name or form.cleaned_data["cursor"]:
            return None
        return cls(form.filters, top_key(page))

    @classmethod
    def counted(cls, pipelines, form, top, written):
        """The bar of `pipelines` (the user's) newer than the key `top` (`written` as top_key() writes it) for
        the form's filters, counted up to NEWER_MOST: one bounded statement."""
        count = pipelines.newer_count(form.filters, top, NEWER_MOST)
        return cls(form.filters, written, count, form.cleaned_data["seen"] or 0)

    @property
    def moved(self):
        """Whether the count is news to the page (it said `seen`): a live check then answers with the bar."""
        return self.count != self.seen

    def _query(self, **extra):
        params = {name: value for name, value in self.filters.items() if value}
        if params.get("favorites"):
            params["favorites"] = "1"
        if self.top:
            params["top"] = self.top
        return urlencode({**params, **extra})

    @property
    def params(self):
        """What the page's live check sends with its rows (views.watch); `seen` left out where it is 0 and
        the top row says the page asks (the first page's bytes are budgeted)."""
        return self._query(seen=self.count) if self.count or not self.top else self._query()

    @property
    def show_url(self):
        """Where "Show" gets the new rows (views.newer); for an empty list, the list (its first page)."""
        if self.top:
            return f"{url_of('jobs:newer')}?{self._query()}"
        query = self._query()
        return url_of("jobs:page") + (f"?{query}" if query else "")

    @property
    def label(self):
        if self.count >= NEWER_MOST:
            return f"{NEWER_MOST}+ new pipelines"
        return f"{self.count} new pipeline{pluralize(self.count)}"
