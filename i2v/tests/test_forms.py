"""SharedFieldsForm (i2v/lib/forms.py): instances share the class's fields, which nothing changes."""

import pytest
from django import forms

from i2v.lib.forms import SharedFieldsForm
from jobs.forms import JobsFilterForm, PageForm, StepPageForm
from jobs.newer import NewerForm
from library.forms import LibraryFilterForm

SHARED = [JobsFilterForm, LibraryFilterForm, NewerForm, PageForm, StepPageForm]

# Valid and invalid input for every field these forms have; unknown names are ignored by a form.
INPUTS = [
    {},
    {"q": "sailboat", "status": "failed", "kind": "video", "source": "upload", "tag": "4K", "favorites": "1",
     "hidden": "only", "model": "veo-3", "sort": "cost", "date_from": "2026-01-01", "date_to": "2026-02-01", "page_size": "7", "seen": "3"},
    {"q": "x" * 201, "status": "nope", "kind": "<b>", "source": "?", "tag": "a b", "hidden": "all", "model": "gpt-9",
     "sort": "random", "date_from": "2026-13-45", "date_to": "yesterday", "page_size": "0", "cursor": "c" * 2001, "seen": "x"},
    {"date_from": "2026-03-01", "date_to": "2026-02-01", "page_size": "-3", "seen": "-1"},
]


def _state(value, depth=0):
    """A comparable picture of a field, its widget and what they hold."""
    if depth > 4:
        return repr(value)
    if isinstance(value, (forms.Field, forms.Widget)):
        return (type(value), {k: _state(v, depth + 1) for k, v in sorted(vars(value).items())})
    if isinstance(value, dict):
        return {k: _state(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_state(v, depth + 1) for v in value]
    return repr(value)


def test_it_gives_each_instance_its_own_dictionary_of_the_same_fields():
    a, b = LibraryFilterForm({}, default_page_size=60), LibraryFilterForm({}, default_page_size=60)
    assert a.fields is not b.fields and a.fields is not LibraryFilterForm.base_fields
    assert a.fields["q"] is b.fields["q"] is LibraryFilterForm.base_fields["q"]
    del a.fields["q"]
    assert "q" in b.fields and "q" in LibraryFilterForm.base_fields


def test_it_copies_fields_for_a_plain_form():
    class Plain(forms.Form):
        q = forms.CharField()

    assert Plain().fields["q"] is not Plain.base_fields["q"]


def test_it_shares_fields_with_subclasses_too():
    class Narrower(SharedFieldsForm):
        q = forms.CharField(required=False)

    class Wider(Narrower):
        n = forms.IntegerField(required=False)

    assert list(Wider().fields) == ["q", "n"]
    assert Wider().fields["q"] is Wider.base_fields["q"]


@pytest.mark.parametrize("form_class", SHARED)
def test_it_leaves_the_fields_as_they_were_after_validating(form_class):
    before = _state(form_class.base_fields)
    for data in INPUTS:
        form = form_class(data, default_page_size=20) if "default_page_size" in form_class.__init__.__code__.co_varnames else form_class(data)
        form.is_valid()
        form.errors.as_json()
        for bound in form:
            str(bound), bound.value(), bound.errors
    assert _state(form_class.base_fields) == before


@pytest.mark.parametrize("path", ["/jobs/", "/library/"])
def test_it_leaves_the_fields_as_they_were_after_rendering_the_pages(owner_client, path):
    before = {cls: _state(cls.base_fields) for cls in SHARED}
    for data in INPUTS:
        response = owner_client.get(path, data)
        assert response.status_code in (200, 400)
    assert {cls: _state(cls.base_fields) for cls in SHARED} == before


def test_it_quotes_a_refused_choice_cut_short(owner_client):
    response = owner_client.get("/api/pipelines", {"model": "m" * 5000})
    message = response.json()["error"]["message"]
    assert response.status_code == 400 and response.json()["error"]["field"] == "model"
    assert message == f"Select a valid choice. {'m' * 39}… is not one of the available choices."
    short = owner_client.get("/api/pipelines", {"model": "nope"}).json()["error"]["message"]
    assert short == "Select a valid choice. nope is not one of the available choices."
