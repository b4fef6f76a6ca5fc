"""A person's saved prompt templates and named lists ({costume} in a template)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

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


class PromptTemplate(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=100)
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # The manage page: owner=? ORDER BY name
            models.UniqueConstraint(fields=["owner", "name"], name="prompttemplate_owner_name_uniq"),
        ]

    def __str__(self):
        return self.name


def expand_for(owner, text):
    """The prompts `owner`'s template `text` makes, with their saved lists; TemplateError if it can't."""
    lines = parse(text)
    lists = owner.prompt_lists.items_for(list_names(lines)) if lines else {}
    return expand(text, lists, settings.PIPELINE_MAX_PROMPTS)


__all__ = ["PromptList", "PromptTemplate", "TemplateError", "expand_for"]
