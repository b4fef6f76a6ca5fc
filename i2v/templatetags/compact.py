import re

from django import template
from django.template.base import TextNode

register = template.Library()

_BREAKS = re.compile(r"\s*\n\s*")


@register.tag
def compact(parser, token):
    """{% compact %}...{% endcompact %}: drop the template's line breaks and indentation.

    For list rows repeated many times per response, where bytes are budgeted but
    the template should stay readable one cell per line. Done once, when the
    template is compiled, on its own text only: rendering costs nothing more (a
    regex over every rendered row was a tenth of a list's CPU), and a line break
    inside a value (a prompt's) is left as it is.
    """
    nodelist = parser.parse(("endcompact",))
    parser.delete_first_token()
    for node in nodelist.get_nodes_by_type(TextNode):
        node.s = _BREAKS.sub("", node.s)
    return CompactNode(nodelist)


class CompactNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        return self.nodelist.render(context)
