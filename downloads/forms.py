from django import forms
from django.conf import settings

from i2v.lib.ids import id_from_text


class IdList(forms.Field):
    """Ids as repeated parameters (a form's checkboxes) or comma-separated (a link), or both."""

    def to_python(self, value):
        values = value if isinstance(value, (list, tuple)) else [value] if value else []
        ids = []
        for text in (part.strip() for v in values for part in str(v).split(",")):
            if not text:
                continue
            number = id_from_text(text)
            if number is None:
                raise forms.ValidationError(f"“{text[:20]}” is not an id.", code="invalid")
            ids.append(number)
        ids = list(dict.fromkeys(ids))
        if len(ids) > settings.DOWNLOAD_MAX_IDS:
            raise forms.ValidationError(
                f"{len(ids):,} ids given; select at most {settings.DOWNLOAD_MAX_IDS:,} at once.", code="too_many"
            )
        return ids


class SelectionForm(forms.Form):
    """What to put in a zip: outputs (tiles of a Jobs row), whole pipelines, Library assets."""

    outputs = IdList(required=False, widget=forms.MultipleHiddenInput)
    pipelines = IdList(required=False, widget=forms.MultipleHiddenInput)
    assets = IdList(required=False, widget=forms.MultipleHiddenInput)

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not any(cleaned.get(k) for k in ("outputs", "pipelines", "assets")):
            raise forms.ValidationError("Select some outputs, pipelines or Library items to download first.", code="empty")
        return cleaned

    @property
    def status(self):
        """413 when too many ids were sent, else 400."""
        too_many = any(e.code == "too_many" for errors in self.errors.as_data().values() for e in errors)
        return 413 if too_many else 400

    def first_error(self):
        return next(iter(self.errors.values()))[0]
