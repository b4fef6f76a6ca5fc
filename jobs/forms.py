from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.urls import reverse

from .models import TAG_NAME, Pipeline


class TagField(forms.CharField):
    """A tag name, lowercased before validation: "Client-X" means client-x."""

    def __init__(self, **kwargs):
        super().__init__(max_length=40, validators=[TAG_NAME], **kwargs)

    def to_python(self, value):
        return super().to_python(value).lower()


def _model_choices():
    return [("", "Any model")] + [(k, v["label"]) for k, v in settings.GENERATION_MODELS.items()]


class JobsFilterForm(forms.Form):
    """Filters, sort and page of the Jobs list; the page and the API share it.

    Every value is validated: a bad one is a 400 naming the field, never a 500
    and never silently ignored.
    """

    status = forms.ChoiceField(choices=[("", "Any status"), *Pipeline.Status.choices], required=False)
    tag = TagField(required=False)
    favorites = forms.BooleanField(required=False)
    hidden = forms.ChoiceField(
        choices=[("", "Not hidden"), ("include", "Include hidden"), ("only", "Only hidden")], required=False
    )
    q = forms.CharField(required=False, max_length=200, strip=True)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    model = forms.ChoiceField(choices=_model_choices, required=False)
    sort = forms.ChoiceField(
        choices=[("newest", "Newest"), ("oldest", "Oldest"), ("name", "Name"), ("cost", "Cost")], required=False
    )
    cursor = forms.CharField(required=False, max_length=2000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=settings.PAGE_SIZE_MAX)

    FILTERS = ("status", "tag", "favorites", "hidden", "q", "date_from", "date_to", "model")

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
    def ordering(self):
        return Pipeline.ORDERINGS[self.cleaned_data["sort"] or "newest"]

    @property
    def size(self):
        return self.cleaned_data["page_size"] or self.default_page_size

    @property
    def is_filtered(self):
        return any(self.filters.values())

    def list_args(self):
        return {
            "filters": self.filters,
            "ordering": self.ordering,
            "cursor": self.cleaned_data["cursor"],
            "page_size": self.size,
        }

    def url(self, cursor=None):
        """This list's URL with only validated parameters, optionally at a cursor."""
        params = {k: v for k, v in self.cleaned_data.items() if v and k not in ("cursor", "favorites")}
        if self.cleaned_data["favorites"]:
            params["favorites"] = "1"
        if cursor:
            params["cursor"] = cursor
        query = urlencode(params)
        return reverse("jobs:page") + (f"?{query}" if query else "")

    def cache_parts(self):
        """Everything that changes the result, in a stable, hashable form."""
        return {**self.filters, "sort": self.ordering.name, "cursor": self.cleaned_data["cursor"], "n": self.size}


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)


class TagForm(forms.Form):
    name = TagField(error_messages={"required": "Type a tag name."})


class BulkActionForm(forms.Form):
    ACTIONS = {
        "delete": "Deleted",
        "favorite": "Favourited",
        "unfavorite": "Unfavourited",
        "hide": "Hid",
        "unhide": "Unhid",
        "tag": "Tagged",
    }
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    ids = forms.TypedMultipleChoiceField(coerce=int, required=True, error_messages={"required": "Select some pipelines first."})
    tag = TagField(required=False)

    def __init__(self, data):
        super().__init__(data)
        # Any integer is acceptable here; ownership is checked by the query, which
        # starts from request.user, so someone else's id simply matches nothing.
        self.fields["ids"].valid_value = lambda value: True

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > settings.PAGE_SIZE_MAX:
            raise forms.ValidationError(f"Select at most {settings.PAGE_SIZE_MAX} pipelines at once.")
        return ids

    def clean(self):
        data = super().clean()
        if data.get("action") == "tag" and "tag" not in self.errors:
            if not data.get("tag"):
                self.add_error("tag", "Type the tag to add.")
        return data

    def first_error(self):
        return next(iter(self.errors.values()))[0]

    def summary(self, count):
        verb = self.ACTIONS[self.cleaned_data["action"]]
        noun = "pipeline" if count == 1 else "pipelines"
        extra = f" with “{self.cleaned_data['tag']}”" if self.cleaned_data["action"] == "tag" else ""
        return f"{verb} {count} {noun}{extra}."


class PageForm(forms.Form):
    """?cursor=&page_size= of any keyset list."""

    cursor = forms.CharField(required=False, max_length=2000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=settings.PAGE_SIZE_MAX)

    @property
    def size(self):
        return self.cleaned_data["page_size"] or settings.PAGE_SIZE_DEFAULT
