from django import template

from jobs.detail_html import output_tiles_html, step_rows_html
from jobs.newer import Newer
from jobs.row import row_html

register = template.Library()


@register.simple_tag
def job_row(pipeline, oob=False):
    """{% job_row p %}: a Jobs list row (jobs/row.py); {% job_row p oob=True %} for an out-of-band swap."""
    return row_html(pipeline, oob=oob)


@register.simple_tag
def detail_steps(rows):
    """{% detail_steps step_rows %}: a pipeline detail's page of step rows (jobs/detail_html.py)."""
    return step_rows_html(rows)


@register.simple_tag
def detail_tiles(tiles, pipeline_id):
    """{% detail_tiles tiles p.id %}: a pipeline detail's page of output tiles (jobs/detail_html.py)."""
    return output_tiles_html(tiles, pipeline_id)


@register.simple_tag
def newer_bar(form, page):
    """{% newer_bar form page as newer %}: the Jobs page's bar of new pipelines, or None (jobs/newer.py)."""
    return Newer.on_page(form, page)
