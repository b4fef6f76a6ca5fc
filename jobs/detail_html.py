"""A pipeline detail's step rows and output tiles, written in Python rather than in its template.

They are the detail's inner loops: a page of 20 steps and 24 tiles in every expansion,
the rest a click away. As template loops they cost about 100 µs of CPU each (some 20
variable lookups and 8 conditions per row, each paying the template engine's
resolution), so that a 2,000-step pipeline, whose pages are full, expanded in 1.8-2.0x
the time of a 5-step one, against issue 10's 2x (docs/benchmarks.md, "Eleventh pass").
As jobs/row.py does for a Jobs row and library/tile.py for a Library tile, these make the
template's markup from the values jobs/detail.py computes (step_rows(), tiles()), less its
indentation (compared with whitespace runs collapsed: docs/benchmarks.md), and the
template reaches them through {% detail_steps %} and {% detail_tiles %}
(jobs/templatetags/jobs_rows.py). The page around them, the "Show more" links and
the summary stay in pipeline_detail.html.

What the markup is and why:
- a row or tile carries its id (data-step, data-output) for the tests and scripts that
  find it, and each cell a class for its look (static/css/app.css lays a row out as a card
  on a phone by them, not by the cells' positions); a tile's viewer attributes are those
  static/js/viewer.js reads;
- a tile's checkbox belongs to the detail's download form (form="dl-<pipeline id>");
- every string is escaped (html.escape, quotes included) as the template escaped it;
  numbers are plain digits, never localized.
"""

import html

from django.utils.safestring import SafeString

from i2v.lib.urls import id_url


def _progress(s):
    if not s["waiting"]:
        return ""
    if s["queue_position"] is not None:
        return f'<small class="queue-position">#{s["queue_position"]} in queue</small>'
    if s["progress"]:
        return f'<progress value="{s["progress"]}" max="100"></progress> <small class="progress">{s["progress"]}%</small>'
    return ""


def _cost(s):
    esc = html.escape
    if s["free"]:
        return '<td class="nowrap cost">Free</td>'
    cost = esc(s["actual"])
    if s["reported"]:
        cost += f" <small>(provider: {esc(s['reported'])})</small>"
    if s["status"] == "unknown":
        cost += f" <small>may have cost {esc(s['estimate'])}</small>"
    return f'<td class="nowrap cost" title="Estimated {esc(s["estimate"])}">{cost}</td>'


def step_row_html(s):
    """The <tr> of step `s` (a dict of jobs.detail.step_rows())."""
    esc = html.escape
    note = f'<small class="note">{esc(s["note"])}</small>' if s["note"] else ""
    title = f' title="{esc(s["prompt_title"])}"' if s["prompt_title"] else ""
    return (
        f'<tr data-step="{s["id"]}" data-status="{esc(s["status"])}">\n<td class="step-order">{s["order"] + 1}</td>\n<td class="step-kind">{esc(str(s["kind"]))}</td>\n'
        f'<td class="step-status"><span class="badge s-{esc(s["status"])}">{esc(str(s["status_label"]))}</span>\n{_progress(s)}\n{note}</td>\n'
        f'<td class="nowrap step-model" title="{esc(str(s["model"]))}">{esc(str(s["model_label"]))}</td>\n'
        f'<td class="prompt-cell"{title}>{esc(s["prompt"])}</td>\n{_cost(s)}\n<td class="error">{esc(str(s["error"]))}</td>\n</tr>\n'
    )


def step_rows_html(rows):
    """The step rows of a page, or the row that says there are none."""
    if not rows:
        return SafeString('<tr><td colspan="7" class="muted">No steps.</td></tr>\n')
    return SafeString("".join([step_row_html(s) for s in rows]))


def _viewer_item(t):
    # What static/js/viewer.js needs to show a tile full screen (the original is its href).
    marks = (" data-favorite" if t["favorite"] else "") + (" data-hidden" if t["hidden"] else "")
    return f' data-viewer-item="{t["asset"]}" data-output="{t["output"]}" data-kind="{html.escape(t["kind"])}"{marks}'


def _media(t):
    esc = html.escape
    thumb = t["thumb"]
    if not t["href"]:
        return '<span class="pending">not fetched yet</span>'  # imported from i2v as a URL: fetched in the background
    if t["video"]:
        poster = f'poster="{esc(thumb["url"])}" width="{thumb["w"]}" height="{thumb["h"]}"' if thumb else ""
        return f'<video muted loop playsinline preload="none" data-src="{esc(t["href"])}" {poster}></video><span class="play">▶</span>'
    if thumb:
        return (
            f'<img src="{esc(thumb["url"])}" srcset="{esc(t["srcset"])}" sizes="150px" width="{thumb["w"]}" height="{thumb["h"]}" '
            f'loading="lazy" decoding="async" alt="{esc(t["alt"])}">'
        )
    return '<span class="pending">processing…</span>'


def output_tile_html(t, pipeline_id):
    """The tile of output `t` (a dict of jobs.detail.tiles()) in pipeline `pipeline_id`'s grid."""
    esc = html.escape
    href = f' href="{esc(t["href"])}" target="_blank" rel="noopener"{_viewer_item(t)}' if t["href"] else ""
    preview = f'data-preview="{esc(t["preview"])}"' if t["preview"] else ""
    picks = ""
    if t["href"]:
        picks = (
            f'<input class="pick" type="checkbox" name="outputs" value="{t["output"]}" form="dl-{int(pipeline_id)}" aria-label="Select output {t["number"]}">\n'
            f'<a class="download" href="{id_url("downloads:output", t["output"])}" title="Download" aria-label="Download output {t["number"]}">⤓</a>'
        )
    return (
        f'<div class="tile-box" data-output="{t["output"]}">\n<a class="tile{" video" if t["video"] else ""}"{href}\n{preview} title="{esc(t["title"])}">\n'
        f"{_media(t)}\n</a>\n{picks}\n</div>\n"
    )


def output_tiles_html(tiles, pipeline_id):
    """The tiles of a page of outputs."""
    return SafeString("".join([output_tile_html(t, pipeline_id) for t in tiles]))
