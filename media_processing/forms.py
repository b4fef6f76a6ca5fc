from django import forms

from i2v.lib.forms import ChoiceField
from library.models import Asset


class BackfillForm(forms.Form):
    """The options of `manage.py backfill_renditions`, for POST /api/library/generate-thumbnails."""

    mode = ChoiceField(choices=[("missing", "missing"), ("all", "all")], required=False)
    kind = ChoiceField(choices=[("", "any"), *Asset.Kind.choices], required=False)
    batch = forms.IntegerField(min_value=1, max_value=10_000, required=False)

    def clean(self):
        data = super().clean()
        data["missing"] = data.get("mode") != "all"
        data["batch"] = data.get("batch") or 500
        return data
