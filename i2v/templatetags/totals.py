from django import template

register = template.Library()


@register.filter
def total_of(total, noun):
    """{{ total|total_of:"pipeline" }}: a list's Total as its page shows it (Total.text())."""
    return total.text(noun)
