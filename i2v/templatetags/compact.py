import re

from django import template

register = template.Library()

_BREAKS = re.compile(r"\s*\n\s*")


@register.tag
def compact(parser, token):
    """{% compact %}...{% endcompact %}: drop the template's line breaks and indentation.

    For list rows repeated many times per response, where bytes are budgeted but
    the template should stay readable one cell per line.
    """
    nodelist = parser.parse(("endcompact",))
    parser.delete_first_token()
    return CompactNode(nodelist)


class CompactNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        return _BREAKS.sub("", self.nodelist.render(context))
