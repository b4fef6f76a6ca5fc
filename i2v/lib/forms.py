"""Forms whose instances share their class's fields instead of deep-copying them; choice fields whose
refusal quotes what was sent cut short; a checkbox or truth value read strictly; fields of one value that
refuse a JSON body's list or object.

A Django form deep-copies every declared field, with its widget, choices, validators and
error messages, each time one is made, so that an instance may change its own fields
(set choices, swap a widget) without touching the class's. A list's filter form never
does: it is built, validated and read on every list request, and that copy was most of
its cost, 140-160 µs of CPU of a Jobs or Library form's 210-260 (docs/benchmarks.md,
"Twelfth pass"). Django has no switch for it; the copy is made by
`copy.deepcopy(self.base_fields)` in BaseForm.__init__(), so the class's fields are kept in a
dictionary whose deep copy is a shallow one: each instance gets a dictionary of its own
(adding or removing a field stays its own) holding the same field objects.

A form built on SharedFieldsForm must not change a field's attributes (a field is shared by
every request of the process, and by its threads): validating and rendering don't
(i2v/tests/test_forms.py checks that for every form here that uses it).
"""

from contextlib import contextmanager

from django import forms
from django.core.exceptions import ValidationError
from django.forms.forms import DeclarativeFieldsMetaclass

from .text import truncated


class SharedFields(dict):
    """A form class's fields: an instance's copy is a new dictionary of the same fields."""

    def __deepcopy__(self, memo):
        return dict(self)


class _SharedFieldsMetaclass(DeclarativeFieldsMetaclass):
    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_fields = SharedFields(new_class.base_fields)
        return new_class


class SharedFieldsForm(forms.Form, metaclass=_SharedFieldsMetaclass):
    """A Form whose instances use the class's field objects (see the module's docstring)."""


class _OneValue:
    """A field that takes one value refuses a JSON body's list or object: Django counts [] and {} among a
    field's empty values, so `"mode": []` was taken for nothing sent, and the default ran instead of a 422."""

    def to_python(self, value):
        if isinstance(value, (list, dict)):
            raise ValidationError("Send one value here, not a list or an object.", code="invalid")
        return super().to_python(value)


class IntegerField(_OneValue, forms.IntegerField):
    """forms.IntegerField that refuses a list or an object (_OneValue)."""


class ChoiceField(_OneValue, forms.ChoiceField):
    """forms.ChoiceField, whose refusal quotes at most QUOTED characters of what was sent: a ?model= of
    5,000 characters came back whole in the error's message. A list or an object is refused (_OneValue)."""

    QUOTED = 40

    def validate(self, value):
        with _quoted_short(self):
            super().validate(value)


class MultipleChoiceField(forms.MultipleChoiceField):
    """forms.MultipleChoiceField, each choice kept once (a box sent three times is one choice), whose refusal
    quotes what was sent as ChoiceField's does."""

    def to_python(self, value):
        return list(dict.fromkeys(super().to_python(value)))

    def validate(self, value):
        with _quoted_short(self):
            super().validate(value)


class _RawInput(forms.CheckboxInput):
    """A checkbox that hands on the value sent as it is, a query string's text or a JSON body's value, for
    FlagField to read (CheckboxInput makes any text but "false" true, and a list too)."""

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class FlagField(forms.BooleanField):
    """A checkbox or a truth value, read strictly: True, 1, "1", "true" or "on" (a checkbox's) is yes; False,
    0, "0", "false", "off", "" or nothing is no. Any other value is refused, never taken for yes: Django's
    BooleanField read "no", "0" or a list in a JSON body as true (`"confirm_cost": "no"` confirmed a spend)."""

    widget = _RawInput
    TRUE, FALSE = ("1", "true", "on"), ("", "0", "false", "off")
    MESSAGE = "Must be true or false."

    def to_python(self, value):
        # True and False read as "true" and "false", 1 as "1"; 1.0, 2 and [1] as nothing either reads.
        text = "" if value is None else str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(self.MESSAGE, code="invalid")

    def prepare_value(self, value):
        try:
            return self.to_python(value)  # what the page's checkbox shows
        except forms.ValidationError:
            return False


class QueryFlagField(FlagField):
    """A checkbox in a query string, the Jobs and the Library filters' (`?favorites=maybe` and `?favorites=0`
    listed the favourites), said in a query string's words."""

    MESSAGE = "Use 1 for yes or 0 for no."


@contextmanager
def _quoted_short(field):
    """A choice refused in the block is quoted at most ChoiceField.QUOTED characters long."""
    try:
        yield
    except ValidationError as error:
        value = (error.params or {}).get("value", "")
        if error.code != "invalid_choice" or len(str(value)) <= ChoiceField.QUOTED:
            raise
        quoted = truncated(str(value), ChoiceField.QUOTED)
        raise ValidationError(field.error_messages["invalid_choice"], code="invalid_choice", params={"value": quoted}) from None

