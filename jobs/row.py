"""A Jobs list row's HTML, written in Python rather than in the page's template.

The row is the list's inner loop: 20 per first page, 100 a scroll, and each live
update redraws some. As a template partial it cost 137 µs of CPU per row (about
26 variable lookups, 10 conditions and 3 filters, each paying the template
engine's resolution), 2.7 ms of an uncached page's 8 ms; this function makes the
same bytes in about a tenth of that (docs/benchmarks.md, "Rows in Python"). Only the
lists' inner loops are written this way (this row, a Library tile, a pipeline detail's
step rows and output tiles): every other fragment stays a template, and the row
reaches them through the {% job_row %} tag (jobs/templatetags/jobs_rows.py).

What the markup is and why (kept small, as 20 rows must stay under 15 KB):
- actions go to sub-paths of the name link's URL (static/js/app.js); the detail
  row and the menu are made only when asked for; end tags are implied;
- scripts, views and tests find a cell by its data-part (tags by their
  data-colour), never by its position, and a button by its state (aria-expanded,
  aria-pressed) or its label (Actions); plain text cells carry a one-letter class
  for their look (static/css/app.css);
- the checkbox has no value: app.js takes the pipeline id from the row's id;
- the name's cell is the row's header (<th>): a screen reader names the row's checkbox, star, expand and
  menu buttons by it ("Select" alone said nothing of which pipeline), where a label of its own on each
  would cost 20 rows some 900 bytes of a budget that has 200 left;
- attribute values the code controls (status, ids, numbers, colours, media
  URLs) go unquoted; every string is escaped (html.escape, quotes included) as
  the template escaped it; numbers are plain digits, never localized.
"""

import functools
import html

from django.utils import dateformat, timezone, translation
from django.utils.safestring import SafeString

from i2v.lib.text import truncated
from i2v.lib.urls import id_url

_PROMPT_CHARS = 64  # truncatechars:64


@functools.lru_cache(maxsize=1024)
def _day(day, language):
    # The date filter's "M j, Y", once per day shown (rows made together share one) and language.
    return dateformat.format(day, "M j, Y")


def _status(p):
    esc = html.escape
    cell = f"<b>{esc(p.status)}</b>"
    if p.is_active and p.planned_steps:
        activity = f" · {esc(p.activity)}" if p.activity else ""
        done = p.progress_done
        return f"{cell}<progress value={done} max={p.planned_steps}></progress><small>{done}/{p.planned_steps} done{activity}</small>"
    if p.activity:
        return f"{cell}<small>{esc(p.activity)}</small>"
    return cell


def _steps(p):
    """How many steps the pipeline has: while it works, those it plans (its status says "0/16 done" while
    the second stage's 8 are still to be made, or all 480 while they are being made), else those it made."""
    return max(p.step_count, p.planned_steps) if p.is_active else p.step_count


def _cover(p):
    cover = p.cover
    if not cover:
        return ""
    return f"<img src={html.escape(cover['url'])} loading=lazy alt>" + ("<i>▶</i>" if p.cover_kind == "video" else "")


def row_html(p, *, oob=False):
    """The <tr> of pipeline `p` (loaded by for_jobs_page()); `oob` marks it for an htmx out-of-band swap."""
    esc = html.escape
    status = esc(p.status)
    classes = f'"s-{status} is-hidden"' if p.is_hidden else f"s-{status}"
    watch = f" data-watch={p.id}:{p.version}" if p.is_active else ""
    swap = " hx-swap-oob=outerHTML" if oob else ""
    star = "<button aria-pressed=true>★" if p.is_favorite else "<button aria-pressed=false>☆"
    tags = "".join(f"<span data-colour={esc(t['colour'])}>{esc(t['name'])}</span>" for t in p.tag_chips)
    created = _day(timezone.localtime(p.created_at).date(), translation.get_language())
    return SafeString(
        f"<tr class={classes} id=row-{p.id}{watch}{swap}>"
        "<td><input type=checkbox aria-label=Select>"
        "<td><button aria-expanded=false aria-label=Expand>▸</button>"
        f"<td>{_cover(p)}"
        f"<td data-part=status>{_status(p)}"
        f"<td>{star}</button>"
        f"<th data-part=name><a href={id_url('jobs:detail', p.id)}>{esc(p.name)}</a><small>{esc(truncated(p.first_prompt, _PROMPT_CHARS))}</small>"
        f"<td class=i>{esc(p.model_label)}"
        f"<td>{tags}"
        f"<td class=n>{_steps(p)}"
        f"<td class=n>{p.output_count}"
        f"<td class=c>${p.cost_label}"
        f"<td>{created}"
        "<td><button aria-label=Actions>⋯</button>"
    )
