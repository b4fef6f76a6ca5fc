"""A person's saved prompt templates and named lists ({costume} in a template)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.functional import cached_property
from django.utils.text import get_text_list

from .expand import TemplateError, expand, list_names, parse, renamed

LIST_NAME = RegexValidator(r"^[a-z0-9_-]{1,40}$", "List names use lowercase letters, digits, - and _ (at most 40).")
MAX_ITEMS = 500
PROMPT_MAX_CHARS = 2000  # a prompt sent to a model, typed, made by a template or rewritten


class PromptListQuerySet(models.QuerySet):
    def items_for(self, names):
        """{name: [items]} of these lists (one query; names not saved are left out)."""
        if not names:
            return {}
        return {row.name: row.values() for row in self.filter(name__in=names).only("name", "items")}


class PromptList(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_lists")
    name = models.CharField(max_length=40, validators=[LIST_NAME])
    items = models.TextField(help_text="One item per line.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptListQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # {name} lookups while expanding and the manage page: owner=? AND name IN (...) / ORDER BY name
            models.UniqueConstraint(fields=["owner", "name"], name="promptlist_owner_name_uniq"),
        ]

    def __str__(self):
        return self.name

    def values(self):
        return [line.strip() for line in self.items.splitlines() if line.strip()]

    def follow_rename(self, old):
        """The owner's templates that named this list `old` name it as it is named now; how many changed."""
        changed = []
        for template in self.owner.prompt_templates.filter(text__icontains=old):
            text = renamed(template.text, old, self.name)
            if text != template.text:
                template.text = text
                changed.append(template)
        for template in changed:
            template.save(update_fields=["text", "updated_at"])
        return len(changed)

    def find_used_by(self):
        """Set `used_by`, the owner's templates that use this list (one query), as saved_for() does for them all."""
        mentioning = PromptTemplate.objects.filter(owner_id=self.owner_id, text__icontains=self.name)  # a superset
        self.used_by = [t for t in mentioning if self.name in t.lists_used]
        return self

    def delete_question(self):
        """What its Delete button asks, naming the templates that use it (`used_by`, set by saved_for()):
        they stop expanding once it is gone."""
        question = f"Delete “{self.name}”?"
        if not self.used_by:
            return f"{question} No template uses it."
        names = get_text_list([f"“{t.name}”" for t in self.used_by], "and")
        if len(self.used_by) == 1:
            return f"{question} Template {names} uses it and will stop working."
        return f"{question} Templates {names} use it and will stop working."


class PromptTemplateQuerySet(models.QuerySet):
    def checked(self, saved_names):
        """These templates, each with `missing_lists`: the list names it uses that aren't among `saved_names`
        (the owner's lists; a QuerySet of them is read only if some template names a list)."""
        templates = list(self)
        saved = set(saved_names) if any(t.lists_used for t in templates) else set()
        for t in templates:
            t.missing_lists = sorted(t.lists_used - saved)
        return templates


class PromptTemplate(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=100)
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # The manage page: owner=? ORDER BY name
            models.UniqueConstraint(fields=["owner", "name"], name="prompttemplate_owner_name_uniq"),
        ]

    def __str__(self):
        return self.name

    def delete_question(self):
        return f"Delete the template “{self.name}”? This cannot be undone."

    @cached_property
    def lists_used(self):
        """The names of the saved lists its text uses ({name}); none if it no longer parses."""
        try:
            return list_names(parse(self.text))
        except TemplateError:
            return set()


def saved_for(owner):
    """The owner's lists and templates (two queries) for the Prompts page: each list with the templates that
    use it (`used_by`, for its delete question), each template with the lists it names that don't exist."""
    lists = list(owner.prompt_lists.all())
    templates = owner.prompt_templates.checked([l.name for l in lists])
    for saved in lists:
        saved.used_by = [t for t in templates if saved.name in t.lists_used]
    return lists, templates


def expand_for(owner, text):
    """The prompts `owner`'s template `text` makes, with their saved lists; TemplateError if it can't."""
    lines = parse(text)
    lists = owner.prompt_lists.items_for(list_names(lines)) if lines else {}
    return expand(text, lists, settings.PIPELINE_MAX_PROMPTS)


__all__ = ["PromptList", "PromptTemplate", "TemplateError", "expand_for", "saved_for"]
