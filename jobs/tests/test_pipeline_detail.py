import datetime
from decimal import Decimal

import pytest

from conftest import make_asset, make_big_pipeline, make_pipeline, plan_by_index
from jobs.detail import OUTPUT_PAGE_HTML
from jobs.models import Output


@pytest.fixture
def pipeline(owner):
    return make_pipeline(owner, name="Detail me", outputs=3, steps=2, tags=["portrait"])


def test_it_returns_steps_and_the_output_grid_to_htmx(owner_client, pipeline):
    pipeline.steps.filter(order=1).update(status="failed", error="Provider said <no>")
    response = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('<a class="tile') == 3
    assert html.count('loading="lazy"') == 3
    assert 'width="300" height="225"' in html
    assert "Provider said &lt;no&gt;" in html
    first = pipeline.outputs.order_by("position").first().asset
    assert f'data-preview="/media/{first.renditions["600"]["name"]}"' in html
    assert f'href="{first.original.url}"' in html  # the original only on click


def test_it_redraws_itself_while_a_step_is_to_finish(owner_client, pipeline):
    live = f'data-live hx-get="/jobs/{pipeline.id}/%s" hx-trigger="every 3s" hx-target="this" hx-swap="outerHTML"'
    for statuses, redraws in [
        (["completed", "running"], True),
        (["completed", "pending"], True),  # the next stage's step, waiting for its turn
        (["completed", "failed"], False),
        (["completed", "review"], False),  # waiting for a person, not for work
        (["completed", "cancelled"], False),
    ]:
        for order, status in enumerate(statuses):
            pipeline.steps.filter(order=order).update(status=status)
        expansion = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
        assert (live % "" in expansion) is redraws, statuses
        for page in (owner_client.get(f"/jobs/{pipeline.id}/"), owner_client.get(f"/jobs/{pipeline.id}/?page=1", HTTP_HX_REQUEST="true")):
            assert (live % "?page=1" in page.content.decode()) is redraws, statuses  # the page's redraw: with its status


def test_it_redraws_the_pages_status_and_cost_but_not_in_an_expanded_row(owner_client, pipeline):
    pipeline.steps.update(status="completed")
    type(pipeline).objects.filter(pk=pipeline.pk).update(status="completed")
    redraw = owner_client.get(f"/jobs/{pipeline.id}/?page=1", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in redraw and 'data-testid="pipeline-state"><span class="badge s-completed">' in redraw
    assert "$1.25" in redraw and ">portrait<" not in redraw  # tags are in the page's head, which only the person changes
    assert 'data-testid="pipeline-state"' not in owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()


def test_it_is_a_page_of_its_own_without_htmx(owner_client, pipeline):
    html = owner_client.get(f"/jobs/{pipeline.id}/").content.decode()
    assert "<html" in html and "Detail me" in html and ">portrait<" in html


def test_it_shows_video_posters_that_play_on_hover(owner_client, owner, pipeline):
    video = make_asset(owner, kind="video")
    Output.objects.create(owner=owner, pipeline=pipeline, step=pipeline.steps.first(), asset=video, position=9)
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert f'poster="/media/{video.renditions["300"]["name"]}"' in html
    assert 'preload="none"' in html


def test_it_falls_back_to_a_placeholder_while_renditions_are_pending(owner_client, owner, pipeline):
    pending = make_asset(owner, renditions=False)
    Output.objects.create(owner=owner, pipeline=pipeline, step=pipeline.steps.first(), asset=pending, position=9)
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "processing…" in html


def test_it_shows_outputs_imported_as_urls_as_not_fetched_yet_without_a_link(owner_client, owner, pipeline):
    remote = pipeline.outputs.order_by("position").first().asset
    type(remote).objects.filter(pk=remote.pk).update(
        original="", sha256=None, renditions={}, remote_url="https://cdn.example/1.png", processing_status="remote"
    )
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count('<a class="tile') == 3 and html.count("not fetched yet") == 1
    assert 'href="None"' not in html and html.count('target="_blank"') == 2


@pytest.mark.parametrize("htmx", [True, False], ids=["expansion", "page"])
def test_it_is_a_404_for_someone_elses_pipeline(client, other, pipeline, htmx):
    client.force_login(other)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    assert client.get(f"/jobs/{pipeline.id}/", **headers).status_code == 404
    # Ids no pipeline has, up to past a bigint, are the same 404.
    for pipeline_id in (pipeline.id + 1000, 2**63, 10**30):
        assert client.get(f"/jobs/{pipeline_id}/", **headers).status_code == 404


# pipeline, step summary, one page of steps, one page of outputs and their assets by id (the user is cached)
DETAIL_QUERIES = 5


def test_it_uses_the_same_queries_for_1_and_50_outputs(owner_client, owner, django_assert_num_queries):
    small = make_pipeline(owner, outputs=1)
    big = make_pipeline(owner, outputs=50, steps=3)
    for p in (small, big):
        with django_assert_num_queries(DETAIL_QUERIES):
            owner_client.get(f"/jobs/{p.id}/", HTTP_HX_REQUEST="true")


@pytest.mark.parametrize("htmx", [True, False], ids=["expansion", "page"])
def test_it_uses_the_same_queries_for_5_and_2000_steps(owner_client, owner, htmx, django_assert_num_queries, settings):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    settings.FAL_KEY = "a-key"  # their model's provider can run: the retry is offered, so its sources are looked at
    small = make_pipeline(owner, steps=5, outputs=5, status="failed")
    small.steps.update(status="failed")
    for p in (small, make_big_pipeline(owner)):
        # The page offers a retry of a failed pipeline, priced by one sum over its failed steps and disabled
        # where one of their models' providers has no key here (one query for their models) or where every one
        # starts from an image deleted since (one for their sources; these name none: no second for the images),
        # and its head's tag editor the owner's quick tags, as the row menu's does.
        expected = DETAIL_QUERIES + (0 if htmx else 4)
        with django_assert_num_queries(expected, info="the detail must not load steps per row or per kind"):
            assert owner_client.get(f"/jobs/{p.id}/", **headers).status_code == 200


def test_it_summarises_a_big_pipeline_and_shows_its_failures_first(owner_client, owner):
    big = make_big_pipeline(owner, images=1000, videos=1000, failed=20)
    html = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "1,000 × image:" in html and "1,000 × video:" in html
    video = html[html.index("1,000 × video:") :]
    assert video.index("20 failed") < video.index("980 completed")  # failures first
    assert "Showing 20 failed or unknown of 2,000 steps" in html
    assert html.count("<tr data-step=") == 20 and html.count('data-status="failed"') == 20
    assert "Show more steps" not in html  # the 20 failures are one page


def test_it_counts_a_big_pipelines_steps_from_their_index_alone(owner_client, owner):
    """The summary's count by kind and status is an index-only scan of step_pipeline_order
    (jobs migration 0017): a 2,000-step pipeline's rows are not read for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("INCLUDE and index-only scans are PostgreSQL's")
    big = make_big_pipeline(owner, images=300, videos=300, failed=5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_step")
    with CaptureQueriesContext(connection) as captured:
        assert owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").status_code == 200
    summary = next(q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"] and "jobs_step" in q["sql"])
    plan = plan_by_index(summary)
    assert "Index Only Scan using step_pipeline_order" in plan, plan


def test_it_keeps_a_2000_step_expansion_under_50_kb(owner_client, owner):
    big = make_big_pipeline(owner, failed=0)
    response = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert len(response.content) < 50_000
    assert html.count("<tr data-step=") == 20  # one page of steps, in order, and the rest a click away
    assert "Show more steps" in html and f'hx-get="/jobs/{big.id}/steps?status=&amp;cursor=' in html
    assert "Showing" not in html  # no failures: all steps, in order


def test_it_lists_a_small_pipeline_in_order_even_with_failures(owner_client, owner):
    small = make_pipeline(owner, steps=5, outputs=0)
    small.steps.filter(order=3).update(status="failed")
    html = owner_client.get(f"/jobs/{small.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count("<tr data-step=") == 5 and "Showing" not in html
    assert "5 × image:" in html and "1 failed" in html


def test_it_pages_a_large_grid(owner_client, owner):
    big = make_pipeline(owner, outputs=55)
    html = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count('<a class="tile"') == OUTPUT_PAGE_HTML
    assert "Show more" in html


def test_it_keeps_the_descriptions_lines_escaped(owner_client, owner):
    p = make_pipeline(owner, description="First <b>line</b>\nsecond line\n\nA new paragraph")
    html = owner_client.get(f"/jobs/{p.id}/").content.decode()
    assert '<div class="page-text"><p>First &lt;b&gt;line&lt;/b&gt;<br>second line</p>\n\n<p>A new paragraph</p></div>' in html


def test_it_prints_the_cost_and_the_date_as_the_jobs_row_does_with_a_time_and_its_zone(owner_client, owner):
    created = datetime.datetime(2026, 12, 4, 5, 38, 12, tzinfo=datetime.UTC)
    p = make_pipeline(owner, total_cost=Decimal("0.168"), created_at=created)
    row = owner_client.get(f"/jobs/{p.id}/row", HTTP_HX_REQUEST="true").content.decode()
    assert "<td class=c>$0.17<td>Dec 4, 2026<td>" in row
    state = owner_client.get(f"/jobs/{p.id}/").content.decode()
    state = state[state.index('data-testid="pipeline-state"') :]
    assert "mode · $0.17 · created Dec 4, 2026 05:38 UTC" in state[: state.index("</p>")]


def test_it_offers_the_row_menus_actions_as_forms_that_answer_its_head(owner_client, owner):
    p = make_pipeline(owner, tags=["portrait"])
    html = owner_client.get(f"/jobs/{p.id}/").content.decode()
    head = html[html.index(f'<div class="pipeline-head" id="head-{p.id}">') : html.index('data-testid="pipeline-state"')]
    for action in ("favorite", "hide", "rename", "tags", f"tags/{p.tags.get().id}/remove"):
        # A real form (without JavaScript, the page again), which htmx sends to redraw this head.
        assert f'action="/jobs/{p.id}/{action}" hx-post="/jobs/{p.id}/{action}" method="post" hx-target="#head-{p.id}"' in head, action
    delete = head[head.index('<details class="delete"><summary>Delete…</summary>') :]
    assert delete.index(f'<form method="post" action="/jobs/{p.id}/delete">') < delete.index("This cannot be undone.")  # asked first
    assert "hx-post" not in delete[: delete.index("</details>")]  # a plain form: the answer is another page
