"""jobs/detail_html.py: a pipeline detail's step rows and output tiles, written in Python, say what
the template said, escaped the same way."""

from decimal import Decimal

from conftest import make_asset, make_pipeline
from jobs.detail import step_rows, tiles
from jobs.detail_html import output_tiles_html, step_rows_html
from jobs.models import Output, Step

HOSTILE = "<script>alert(\"x\")</script> & 'q'"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;"


def _step(pipeline, **fields):
    values = {"owner": pipeline.owner, "pipeline": pipeline, "kind": Step.Kind.I2V, "order": 9, "config": {"prompt": "p"}, **fields}
    return Step.objects.create(**values)


def test_it_escapes_every_text_of_a_step_a_person_or_a_provider_wrote(owner):
    step = _step(make_pipeline(owner, steps=0, outputs=0), status="waiting", progress_note=HOSTILE, error=HOSTILE, config={"prompt": HOSTILE})
    html = step_rows_html(step_rows([Step.objects.get(pk=step.pk)]))
    assert "<script>" not in html and "'q'" not in html
    assert html.count(ESCAPED) == 3  # the note, the prompt and the error


def test_it_shows_where_a_step_stands_and_what_it_cost(owner):
    p = make_pipeline(owner, steps=0, outputs=0)
    queued = _step(p, status="waiting", queue_position=4)
    running = _step(p, status="waiting", progress=42)
    unknown = _step(p, status="unknown", cost_estimate=Decimal("0.25"), cost_actual=Decimal("0"))
    billed = _step(p, status="completed", cost_actual=Decimal("0.5"), cost_reported=Decimal("0.75"))
    rows = {s["id"]: step_rows_html([s]) for s in step_rows(Step.objects.filter(pipeline=p))}
    assert '<small class="queue-position">#5 in queue</small>' in rows[queued.id]  # shown from 1
    assert '<progress value="42" max="100"></progress> <small class="progress">42%</small>' in rows[running.id]
    assert "<small>may have cost $0.25</small>" in rows[unknown.id] and "queue-position" not in rows[unknown.id]
    assert "$0.50 <small>(provider: $0.75)</small>" in rows[billed.id] and "may have cost" not in rows[billed.id]
    assert rows[billed.id].startswith(f'<tr data-step="{billed.id}" data-status="completed">\n<td class="step-order">10</td>')  # order 9: the 10th


def test_it_prints_costs_to_the_cent_as_a_jobs_row_does_and_a_free_step_as_free(owner):
    p = make_pipeline(owner, steps=0, outputs=0)
    billed = _step(p, status="completed", cost_estimate=Decimal("0.167"), cost_actual=Decimal("0.168"), cost_reported=Decimal("0.1684"))
    unbilled = _step(p, status="completed", cost_estimate=Decimal("0.04"), cost_actual=Decimal("0"), cost_reported=Decimal("0.0031"))
    free = _step(p, status="completed", cost_estimate=Decimal("0"), cost_actual=Decimal("0"))
    rows = {s["id"]: step_rows_html([s]) for s in step_rows(Step.objects.filter(pipeline=p))}
    # The provider's 0.1684 reads as the 0.168 charged: not said twice.
    assert '<td class="nowrap cost" title="Estimated $0.17">$0.17</td>' in rows[billed.id]
    # A fraction of a cent is said, not printed as the $0.00 of a free step.
    assert '<td class="nowrap cost" title="Estimated $0.04">$0.00 <small>(provider: &lt;$0.01)</small></td>' in rows[unbilled.id]
    assert '<td class="nowrap cost">Free</td>' in rows[free.id]


def test_it_says_there_are_no_steps():
    assert step_rows_html([]) == '<tr><td colspan="7" class="muted">No steps.</td></tr>\n'


def test_it_makes_a_tile_the_viewer_and_the_download_form_can_use(owner):
    p = make_pipeline(owner, outputs=0)
    asset = make_asset(owner, kind="video")
    asset.prompt, asset.is_favorite = HOSTILE, True
    asset.save()
    output = Output.objects.create(owner=owner, pipeline=p, step=p.steps.get(), asset=asset, position=2)
    html = output_tiles_html(tiles([output]), p.id)
    assert f'data-viewer-item="{asset.id}" data-output="{output.id}" data-kind="video" data-favorite' in html
    assert "data-hidden" not in html and '<span class="play">▶</span>' in html and "poster=" in html
    assert f'form="dl-{p.id}" aria-label="Select output 3"' in html
    assert f'href="/downloads/outputs/{output.id}"' in html
    assert f'title="{ESCAPED}"' in html and "<script>" not in html


def test_it_shows_a_tile_still_to_fetch_or_to_process(owner):
    p = make_pipeline(owner, outputs=0)
    unfetched, unprocessed = make_asset(owner), make_asset(owner, renditions=False)
    unfetched.original = ""
    unfetched.save()
    made = [Output.objects.create(owner=owner, pipeline=p, step=p.steps.get(), asset=a, position=n) for n, a in enumerate((unfetched, unprocessed))]
    first, second = (output_tiles_html(tiles([o]), p.id) for o in made)
    assert '<span class="pending">not fetched yet</span>' in first and "href=" not in first and 'class="pick"' not in first
    assert '<span class="pending">processing…</span>' in second and 'class="pick"' in second
