from django import forms
from django.db import transaction

from i2v.lib.text import one_line

from .models import LIST_NAME, MAX_ITEMS, PROMPT_MAX_CHARS, PromptList, PromptTemplate, TemplateError, expand_for


class PromptListForm(forms.ModelForm):
    class Meta:
        model = PromptList
        fields = ["name", "items"]
        widgets = {"items": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        self.saved_name = self.instance.name if self.instance.pk else None  # validation writes the new one on it

    def clean_name(self):
        name = self.cleaned_data["name"].strip().lower()
        LIST_NAME(name)
        taken = self.instance.owner.prompt_lists.filter(name=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"You already have a list named “{name}”.")
        return name

    @transaction.atomic
    def save(self, commit=True):
        """Saved, and on a rename the templates using the list follow it (else they'd name a list no more)."""
        saved = super().save(commit)
        if self.saved_name and self.saved_name != saved.name:
            saved.follow_rename(self.saved_name)
        return saved

    def clean_items(self):
        # Each once: a repeated item would make the same prompts twice, each paid for.
        items = list(dict.fromkeys(line.strip() for line in self.cleaned_data["items"].splitlines() if line.strip()))
        if not items:
            raise forms.ValidationError("Write at least one item (one per line).")
        if len(items) > MAX_ITEMS:
            raise forms.ValidationError(f"At most {MAX_ITEMS} items (got {len(items)}).")
        # An item becomes (part of) a prompt: longer than a prompt may be, it could only be refused there.
        long = next((n for n, item in enumerate(items, 1) if len(item) > PROMPT_MAX_CHARS), None)
        if long:
            raise forms.ValidationError(f"Item {long} is {len(items[long - 1]):,} characters; an item may be at most {PROMPT_MAX_CHARS:,}.")
        return "\n".join(items)


class PromptTemplateForm(forms.ModelForm):
    class Meta:
        model = PromptTemplate
        fields = ["name", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        self.fields["text"].max_length = 5000

    def clean_name(self):
        # One line of plain characters, as a pipeline's name (no line break, no bidi control to show another).
        name = one_line(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the template a name.")
        if self.instance.owner.prompt_templates.filter(name=name).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"You already have a template named “{name}”.")
        return name

    def clean_text(self):
        # Saved only if it expands now: a typo is caught here, not on New pipeline.
        text = self.cleaned_data["text"]
        try:
            self.prompts = expand_for(self.instance.owner, text)
        except TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None
        if not self.prompts:
            raise forms.ValidationError("The template is empty.")
        return text
