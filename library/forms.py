import json
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import QueryDict

from i2v.lib.forms import ChoiceField, QueryFlagField, SharedFieldsForm
from i2v.lib.ids import id_from_text
from i2v.lib.urls import url_of

from .models import Asset


class LibraryFilterForm(SharedFieldsForm):
    """Filters and page of the Library; the page and GET /api/library/images share it.

    Every value is validated: a bad one is a 400 naming the field, never a 500
    and never silently ignored.
    """

    kind = ChoiceField(choices=[("", "Images and videos"), *Asset.Kind.choices], required=False)
    source = ChoiceField(choices=[("", "Any source"), *Asset.Source.choices], required=False)  # fits the select's 15em
    status = ChoiceField(choices=[("", "Any status"), *Asset.Status.choices], required=False)
    favorites = QueryFlagField(label="Favourites", required=False)
    hidden = ChoiceField(
        choices=[("", "Not hidden"), ("include", "Include hidden"), ("only", "Only hidden")], required=False
    )
    q = forms.CharField(label="Search", required=False, max_length=200, strip=True)
    date_from = forms.DateField(label="From date", required=False)
    date_to = forms.DateField(label="To date", required=False)
    cursor = forms.CharField(label="Page link", required=False, max_length=2000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=settings.PAGE_SIZE_MAX)

    FILTERS = ("kind", "source", "status", "favorites", "hidden", "q", "date_from", "date_to")

    def __init__(self, data, default_page_size):
        super().__init__(data)
        self.default_page_size = default_page_size

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    @property
    def filters(self):
        return {name: self.cleaned_data[name] for name in self.FILTERS}

    @property
    def size(self):
        return self.cleaned_data["page_size"] or self.default_page_size

    @property
    def is_filtered(self):
        return any(self.filters.values())

    def list_args(self):
        return {"filters": self.filters, "cursor": self.cleaned_data["cursor"], "page_size": self.size}

    def url(self, cursor=None):
        """This list's URL with only validated parameters, optionally at a cursor."""
        # A flag as its box sends it (1), not as Python writes it.
        params = {k: "1" if v is True else v for k, v in self.cleaned_data.items() if v and k != "cursor"}
        if cursor:
            params["cursor"] = cursor
        query = urlencode(params)
        return url_of("library:page") + (f"?{query}" if query else "")

    @classmethod
    def page_url(cls, query):
        """The Library at the filters of `query` (a query string the page sent), validated; unfiltered if invalid."""
        form = cls(QueryDict(query), default_page_size=None)
        return form.url() if form.is_valid() else url_of("library:page")


class AssetIdsForm(forms.Form):
    """Assets to act on: `ids` from the Library's selection (form data) or a JSON body.

    Any well-formed id is accepted: ownership is checked by the query, which
    starts from request.user, so someone else's id matches nothing.
    """

    ids = forms.Field(widget=forms.MultipleHiddenInput, error_messages={"required": "Select some assets first."})

    def clean_ids(self):
        values = self.cleaned_data["ids"]
        if not isinstance(values, list):  # a form's are always one (its widget reads them all); a JSON body's must be
            raise forms.ValidationError("Send “ids” as a list of asset ids.")
        ids = []
        for value in values:
            # An id is a whole number, or text of one (a form's); not true, 5.0 or "5.0".
            number = id_from_text(str(value)) if type(value) in (int, str) else None
            if number is None:
                shown = f"“{value[:20]}”" if isinstance(value, str) else json.dumps(value, ensure_ascii=False)[:20]
                raise forms.ValidationError(f"{shown} is not an asset id.")
            ids.append(number)
        ids = list(dict.fromkeys(ids))
        if len(ids) > settings.PAGE_SIZE_MAX:
            raise forms.ValidationError(f"Select at most {settings.PAGE_SIZE_MAX} assets at once.")
        return ids

    def first_error(self):
        return next(iter(self.errors.values()))[0]
