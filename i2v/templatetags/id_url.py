from django import template

from i2v.lib.urls import id_url as _id_url

register = template.Library()


@register.filter
def id_url(pk, name):
    """{{ p.id|id_url:"jobs:detail" }}: {% url "jobs:detail" p.id %} for list rows, reversed once per name (i2v/lib/urls.py)."""
    return _id_url(name, pk)
