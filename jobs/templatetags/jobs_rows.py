from django import template

from jobs.row import row_html

register = template.Library()


@register.simple_tag
def job_row(pipeline, oob=False):
    """{% job_row p %}: a Jobs list row (jobs/row.py); {% job_row p oob=True %} for an out-of-band swap."""
    return row_html(pipeline, oob=oob)
