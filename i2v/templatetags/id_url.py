from django import template

from i2v.lib.urls import id_url as _id_url
from i2v.lib.urls import url_of as _url_of

register = template.Library()


@register.filter
def id_url(pk, name):
    """{{ p.id|id_url:"jobs:detail" }}: {% url "jobs:detail" p.id %} for list rows, reversed once per name (i2v/lib/urls.py)."""
    return _id_url(name, pk)


@register.filter
def url_of(name):
    """{{ "jobs:watch"|url_of }}: {% url "jobs:watch" %}, reversed once (i2v/lib/urls.py)."""
    return _url_of(name)
