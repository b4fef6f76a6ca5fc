from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def total_label(total, noun):
    """{% total_label total "asset" %}: the count above a list, which static/js/app.js moves as rows
    leave or arrive (its totalChanged event); an estimate ("about …", "more than …") it leaves be.
    The count is a number and the noun a word of the template's, so the attributes need no quotes."""
    estimate = " data-estimate" if total.is_estimate else ""
    return format_html("<span class=total data-testid=total data-total={} data-noun={}{}>{}</span>", total.count, noun, estimate, total.text(noun))
