"""jobs/row.py: the Jobs row written in Python must say what the template said, escaped the same way."""

import datetime
import unicodedata

import pytest
from django.template.defaultfilters import truncatechars
from django.utils import timezone

from conftest import make_pipeline
from jobs.models import Pipeline
from i2v.lib.text import truncated
from jobs.row import _PROMPT_CHARS, row_html

HOSTILE = "<script>alert(\"x\")</script> & 'q'"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;"


def loaded(pipeline):
    return Pipeline.objects.filter(pk=pipeline.pk).for_jobs_page().get()


def test_it_escapes_every_text_a_person_or_a_provider_wrote(owner):
    p = make_pipeline(owner, name=HOSTILE, prompt=HOSTILE, activity=HOSTILE, status="running", planned_steps=3, model=HOSTILE)
    html = row_html(loaded(p))
    assert "<script>" not in html and "'q'" not in html and '"x"' not in html
    assert html.count(ESCAPED) == 4  # name, first prompt, activity, model (unknown: shown by its code)


@pytest.mark.parametrize(
    "prompt",
    ["", "short", "x" * 63, "x" * 64, "x" * 65, "x" * 500, "é" * 70, "a\u0301" * 40, unicodedata.normalize("NFD", "é" * 64), "ok " * 30],
)
def test_it_truncates_a_prompt_as_truncatechars_64_does(prompt):
    assert truncated(prompt, _PROMPT_CHARS) == truncatechars(prompt, 64)


def test_it_shows_the_day_created_in_the_current_time_zone(owner):
    p = make_pipeline(owner, created_at=datetime.datetime(2026, 3, 10, 2, 30, tzinfo=datetime.UTC))
    assert "<td>Mar 10, 2026<td>" in row_html(loaded(p))
    with timezone.override("America/New_York"):
        assert "<td>Mar 9, 2026<td>" in row_html(loaded(p))


def test_it_marks_hidden_watched_favourite_and_out_of_band_rows(owner):
    hidden = loaded(make_pipeline(owner, is_hidden=True, is_favorite=True, status="completed"))
    running = loaded(make_pipeline(owner, status="running", planned_steps=4, progress_done=1, activity="step 2: i2v"))
    assert f'<tr class="s-completed is-hidden" id=row-{hidden.id}>' in row_html(hidden)
    assert "<button aria-pressed=true>★</button>" in row_html(hidden)
    assert f"<tr class=s-running id=row-{running.id} data-watch={running.id}:{running.version}>" in row_html(running)
    assert f"data-watch={running.id}:{running.version} hx-swap-oob=outerHTML>" in row_html(running, oob=True)
    assert "<progress value=1 max=4></progress><small>1/4 done · step 2: i2v</small>" in row_html(running)


def test_it_lists_tags_by_name_with_their_colours(owner):
    p = loaded(make_pipeline(owner, tags=["zebra", "alpha"]))
    html = row_html(p)
    assert html.index(">alpha</span>") < html.index(">zebra</span>")
    assert all(f"<span data-colour={t['colour']}>{t['name']}</span>" in html for t in p.tag_chips)


def test_it_counts_the_steps_a_working_pipeline_plans_and_a_finished_one_made(owner):
    steps = '<td class=n>{}<td class=n>'
    working = make_pipeline(owner, steps=8, status="running", planned_steps=16)
    assert steps.format(16) in row_html(loaded(working))  # its status says "0/16 done"
    finished = make_pipeline(owner, steps=3, status="failed", planned_steps=6)  # a stage never made
    assert steps.format(3) in row_html(loaded(finished))
