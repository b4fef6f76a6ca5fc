import datetime
import itertools
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import every_first_page_walked, first_page_queries, make_pipeline, plan_by_index, text_index_plan
from jobs.models import Pipeline, PipelineTag, Tag
from library.models import Asset

HX = {"HTTP_HX_REQUEST": "true"}


def row_ids(response):
    return [int(i) for i in re.findall(r'<tr [^>]*id=row-(\d+)', response.content.decode())]


def next_url(response):
    match = re.search(r'<a href="([^"]+)" hx-get=', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def walk(client, url):
    """Every row id of a list, following the infinite-scroll links to the end."""
    ids, pages = [], 0
    response = client.get(url, **HX)
    while True:
        assert response.status_code == 200
        ids += row_ids(response)
        pages += 1
        url = next_url(response)
        if not url:
            return ids, pages
        response = client.get(url, **HX)


@pytest.fixture
def spread(owner):
    """Pipelines one hour apart, newest last made, with a few kinds of each field."""
    start = timezone.now() - datetime.timedelta(days=10)
    made = []
    for i in range(25):
        made.append(
            make_pipeline(
                owner,
                name=f"Batch {i:02d}",
                created_at=start + datetime.timedelta(hours=i),
                status=["completed", "failed", "running"][i % 3],
                model=["flux-kontext", "seedream-4"][i % 2],
                total_cost=Decimal(i % 7),
                is_favorite=i % 5 == 0,
                outputs=1,
            )
        )
    return made


def test_it_requires_login(client):
    response = client.get("/jobs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_renders_the_full_page_with_the_first_rows(owner_client, spread):
    response = owner_client.get("/jobs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="filters"' in html
    assert 'type="search" name="q" value="" maxlength="200"' in html  # the filter's own limit: typing stops there
    assert row_ids(response) == [p.id for p in reversed(spread)][:20]
    assert "25 pipelines" in html


@pytest.mark.parametrize(
    "query, summary",
    [
        ("", "Filters<span data-active-filters></span>"),
        ("?q=batch&sort=name", "Filters<span data-active-filters></span>"),  # the search and sort stay in view
        ("?status=failed&favorites=1&date_from=2026-01-01", "Filters<span data-active-filters> · 3</span>"),
        ("?favorites=0&hidden=include", "Filters<span data-active-filters> · 1</span>"),
        ("?status=nonsense", "Filters<span data-active-filters> · 1</span>"),  # refused, and still shown as set
    ],
)
def test_it_counts_the_folded_filters_in_their_summary(owner_client, query, summary):
    assert summary in owner_client.get(f"/jobs/{query}").content.decode()


def test_it_returns_only_the_results_to_htmx(owner_client, spread):
    response = owner_client.get("/jobs/?status=failed", **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert response["Vary"].count("HX-Request") == 1
    assert set(row_ids(response)) == {p.id for p in spread if p.status == "failed"}


def test_it_shows_the_row_fields(owner_client, owner):
    p = make_pipeline(owner, name="Sneakers <b>v3</b>", prompt="white sneakers on a red floor", tags=["product"], outputs=3, total_cost=Decimal("2.5"))
    html = owner_client.get("/jobs/").content.decode()
    assert "Sneakers &lt;b&gt;v3&lt;/b&gt;" in html  # names are escaped
    assert "white sneakers on a red floor" in html
    assert ">product<" in html
    assert f"href=/jobs/{p.id}/>" in html and "<td class=n>1<td class=n>3<td class=c>$2.50" in html  # steps, outputs, cost
    assert "<td class=i>FLUX Kontext pro" in html
    cover = p.outputs.order_by("position").first().asset.renditions["150"]["name"]
    assert f"src=/media/{cover} " in html and "loading=lazy" in html


def test_it_never_shows_another_users_pipelines(owner_client, other, spread):
    theirs = make_pipeline(other, name="Not yours")
    ids, _ = walk(owner_client, "/jobs/")
    assert theirs.id not in ids
    assert "Not yours" not in owner_client.get("/jobs/?q=yours").content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=failed", lambda p: p.status == "failed"),
        ("model=seedream-4", lambda p: p.model == "seedream-4"),
        ("favorites=1", lambda p: p.is_favorite),
        ("q=batch+1", lambda p: p.name.startswith("Batch 1")),
        ("q=BATCH+2", lambda p: p.name.startswith("Batch 2")),
    ],
)
def test_it_filters(owner_client, spread, query, expected):
    ids, _ = walk(owner_client, f"/jobs/?{query}")
    assert ids and sorted(ids) == sorted(p.id for p in spread if expected(p))


def test_it_filters_by_tag(owner_client, owner, spread):
    tagged = spread[3:6]
    for p in tagged:
        p.add_tag("client-acme")
    spread[7].add_tag("other")
    ids, _ = walk(owner_client, "/jobs/?tag=client-acme")
    assert sorted(ids) == sorted(p.id for p in tagged)


def test_it_offers_the_tags_on_a_pipeline_and_the_one_chosen(owner_client, owner, other):
    make_pipeline(owner, tags=["used"])
    left = make_pipeline(owner, tags=["left"])
    left.tags.clear()  # "left" is on no pipeline now
    make_pipeline(other, tags=["bobs"])
    select = _tag_select(owner_client.get("/jobs/"))
    assert '<option value="used">' in select
    assert "left" not in select and "bobs" not in select
    select = _tag_select(owner_client.get("/jobs/?tag=left"))  # a link to the filter: it still says what it is set to
    assert '<option value="left" selected>' in select


@pytest.mark.parametrize("tag", ["%00", "a%00b", "x" * 20000])
def test_it_explains_a_tag_no_name_can_be_with_a_400(owner_client, owner, tag):
    make_pipeline(owner, tags=["used"])
    response = owner_client.get(f"/jobs/?tag={tag}")
    assert response.status_code == 400 and '<option value="used">' in _tag_select(response)


def _tag_select(response):
    html = response.content.decode()
    start = html.index('<select name="tag"')
    return html[start : html.index("</select>", start)]


def test_it_filters_by_tags_however_they_were_added_or_removed(owner_client, owner, spread):
    # On PostgreSQL the filter reads an array that triggers keep (jobs migration 0009):
    # every way of tagging and untagging must reach it.
    spread[1].add_tag("keep")
    Pipeline.objects.filter(pk__in=[spread[2].pk, spread[3].pk]).apply_bulk("tag", owner, "keep")
    keep = Tag.objects.get(owner=owner, name="keep")
    spread[3].tags.remove(keep)
    spread[4].add_tag("other")
    spread[4].add_tag("keep")
    spread[4].tags.remove(Tag.objects.get(owner=owner, name="other"))
    PipelineTag.objects.filter(pipeline=spread[5]).delete()
    ids, _ = walk(owner_client, "/jobs/?tag=keep")
    assert sorted(ids) == sorted(p.id for p in (spread[1], spread[2], spread[4]))
    assert row_ids(owner_client.get("/jobs/?tag=other", **HX)) == []


def test_it_counts_a_rare_combination_exactly_in_constant_queries(owner_client, owner, spread, django_assert_num_queries):
    for p in spread[:9]:
        p.add_tag("rare")
    wanted = sorted(p.id for p in spread[:9] if p.status == "failed" and p.model == "seedream-4")
    # Session user, the planner's estimate (PostgreSQL), the matches' keys (their number is
    # the total; the first of them are the page), the page's rows by primary key.
    with django_assert_num_queries(first_page_queries()):
        response = owner_client.get("/jobs/?tag=rare&status=failed&model=seedream-4&page_size=1", **HX)
    assert row_ids(response) == wanted[-1:]
    assert f"{len(wanted)} pipelines" in response.content.decode()
    ids, _ = walk(owner_client, "/jobs/?tag=rare&status=failed&model=seedream-4&page_size=1")
    assert sorted(ids) == wanted


def test_it_filters_by_date_range(owner_client, owner):
    day = datetime.date(2026, 3, 10)
    at = lambda d, h: timezone.make_aware(datetime.datetime.combine(d, datetime.time(h)))  # noqa: E731
    before = make_pipeline(owner, created_at=at(day - datetime.timedelta(days=1), 23))
    first = make_pipeline(owner, created_at=at(day, 0))
    last = make_pipeline(owner, created_at=at(day + datetime.timedelta(days=1), 23))
    after = make_pipeline(owner, created_at=at(day + datetime.timedelta(days=2), 0))
    ids, _ = walk(owner_client, "/jobs/?date_from=2026-03-10&date_to=2026-03-11")
    assert sorted(ids) == sorted([first.id, last.id])
    assert before.id not in ids and after.id not in ids


def test_it_hides_hidden_pipelines_unless_asked(owner_client, owner):
    shown = make_pipeline(owner)
    hidden = make_pipeline(owner, is_hidden=True)
    assert row_ids(owner_client.get("/jobs/")) == [shown.id]
    response = owner_client.get("/jobs/?hidden=include")
    assert row_ids(response) == [hidden.id, shown.id]
    assert f'is-hidden" id=row-{hidden.id} ' in response.content.decode()  # dimmed
    assert row_ids(owner_client.get("/jobs/?hidden=only")) == [hidden.id]


def test_it_searches_and_tags_hidden_and_visible_pipelines_alike_when_asked(owner_client, owner):
    # On PostgreSQL hidden=include with a word or a tag reads two partial indexes, ORed.
    shown = make_pipeline(owner, prompt="a red sailboat", tags=["4k"])
    hidden = make_pipeline(owner, prompt="a blue sailboat", tags=["4k"], is_hidden=True)
    make_pipeline(owner, prompt="a lighthouse", tags=["raw"], is_hidden=True)
    for query in ("q=sailboat", "tag=4k", "q=sailboat&tag=4k"):
        assert row_ids(owner_client.get(f"/jobs/?hidden=include&{query}")) == [hidden.id, shown.id]
        assert row_ids(owner_client.get(f"/jobs/?hidden=only&{query}")) == [hidden.id]
        assert row_ids(owner_client.get(f"/jobs/?{query}")) == [shown.id]


@pytest.mark.parametrize(
    "sort, key",
    [
        ("newest", lambda p: (-p.created_at.timestamp(), -p.id)),
        ("oldest", lambda p: (p.created_at.timestamp(), p.id)),
        ("name", lambda p: (p.name, p.id)),
        ("cost", lambda p: (-p.total_cost, -p.id)),
    ],
)
def test_it_sorts_and_pages_every_order_without_gaps_or_duplicates(owner_client, spread, sort, key):
    ids, pages = walk(owner_client, f"/jobs/?sort={sort}&page_size=4")
    assert pages == 7
    assert ids == [p.id for p in sorted(spread, key=key)]


def test_it_pages_equal_sort_keys_by_id(owner_client, owner):
    same = timezone.now()
    made = [make_pipeline(owner, created_at=same, total_cost=Decimal("1")) for _ in range(7)]
    ids, _ = walk(owner_client, "/jobs/?sort=cost&page_size=3")
    assert ids == sorted((p.id for p in made), reverse=True)


def test_it_keeps_its_place_when_rows_are_added_between_pages(owner_client, owner, spread):
    first = owner_client.get("/jobs/?page_size=10", **HX)
    make_pipeline(owner, name="Brand new")  # lands on top, before the cursor
    ids = row_ids(first)
    response = owner_client.get(next_url(first), **HX)
    while True:
        ids += row_ids(response)
        if not next_url(response):
            break
        response = owner_client.get(next_url(response), **HX)
    assert ids == [p.id for p in reversed(spread)]


@pytest.mark.parametrize("value, ticked", [("1", True), ("on", True), ("0", False), ("", False)])
def test_it_ticks_the_favourites_box_as_the_query_says(owner_client, value, ticked):
    html = owner_client.get(f"/jobs/?favorites={value}").content.decode()
    assert ('name="favorites" value="1" checked>' in html) is ticked


def test_it_rejects_a_tampered_cursor(owner_client, spread):
    first = owner_client.get("/jobs/?page_size=5", **HX)
    url = next_url(first)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    response = owner_client.get(tampered, **HX)
    assert response.status_code == 400
    assert "cursor" in response.content.decode()


def test_it_rejects_a_cursor_from_another_sort(owner_client, spread):
    url = next_url(owner_client.get("/jobs/?page_size=5", **HX))
    response = owner_client.get(url.replace("page_size=5", "page_size=5&sort=name"), **HX)
    assert response.status_code == 400
    assert "different sort order" in response.content.decode()


def test_it_rejects_a_cursor_from_the_library(owner_client, spread, owner):
    """The Library's cursor, newest first too, is signed by the same server: /jobs/ still refuses it."""
    Asset.objects.bulk_create(Asset(owner=owner, kind="image", source="upload") for _ in range(3))
    url = next(a for a in re.findall(r'hx-get="([^"]+)"', owner_client.get("/library/?page_size=2").content.decode()) if "cursor=" in a)
    cursor = url.split("cursor=", 1)[1].split("&", 1)[0]
    response = owner_client.get(f"/jobs/?page_size=5&cursor={cursor}", **HX)
    assert response.status_code == 400
    assert "another list" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "status=exploded", "sort=random", "page_size=0", "page_size=5000", "date_from=yesterday", "tag=<script>",
        "date_from=2026-02-02&date_to=2026-01-01", "model=nope", "favorites=maybe",
    ],  # fmt: skip
)
def test_it_explains_bad_filters_with_a_400(owner_client, spread, query):
    response = owner_client.get(f"/jobs/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "These filters can't be used" in html
    assert "<script>" not in html
    assert "<strong>date_" not in html and "<strong>page_size" not in html  # a label a person reads, not the field's name


def test_it_names_a_bad_filter_by_its_label(owner_client, spread):
    html = owner_client.get("/jobs/?date_from=2026-02-02&date_to=2026-01-01").content.decode()
    assert "<li><strong>To date</strong>: The end date is before the start date.</li>" in html


def test_it_designs_its_empty_states(owner_client, owner):
    assert "No pipelines yet" in owner_client.get("/jobs/").content.decode()
    make_pipeline(owner, status="completed")
    assert "No pipelines match these filters" in owner_client.get("/jobs/?status=failed").content.decode()


def test_it_marks_running_rows_for_the_pages_one_watch_request(owner_client, owner):
    running = make_pipeline(owner, status="running")
    done = make_pipeline(owner, status="completed")
    html = owner_client.get("/jobs/").content.decode()
    assert f'id=row-{running.id} data-watch={running.id}:{running.version}>' in html
    assert f'id=row-{done.id}>' in html
    assert 'data-watch-url="/jobs/watch" data-watch-with=newer data-window' in html and "every 2s" not in html


def test_it_uses_a_constant_number_of_queries(owner_client, owner, django_assert_num_queries):
    make_pipeline(owner, tags=["a"])
    # One page of rows (counts, cover and tags are subqueries), the total.
    with django_assert_num_queries(first_page_queries()):
        owner_client.get("/jobs/", **HX)
    for _ in range(49):
        make_pipeline(owner, outputs=3, tags=["a", "b"])
    with django_assert_num_queries(first_page_queries(estimated=True)):  # the same filters, estimated above
        response = owner_client.get("/jobs/?page_size=50&sort=name", **HX)
    assert len(row_ids(response)) == 50


@pytest.mark.parametrize("query, queries", [("", 1), ("sort=name", 2), ("q=prompt", 2)])
def test_it_finds_a_later_page_in_constant_queries(owner_client, owner, settings, query, queries, django_assert_num_queries):
    """A cursor's page: the keyset query alone when every row the order's index meets is a match
    (the newest visible ones; by name, the hidden ones are tested on its entries too, on
    PostgreSQL found as a first page is); otherwise, on PostgreSQL, found as a first page is,
    among the rows after the cursor: the keys, the rows (i2v/lib/pagination.py list_page), the
    estimate of all the list's rows being the first page's, which this process keeps a minute."""
    from django.db import connection

    settings.LIST_CACHE = False
    for _ in range(12):
        make_pipeline(owner, outputs=2, tags=["a"])
    first = owner_client.get(f"/jobs/?page_size=5&{query}", **HX)
    expected = queries if connection.vendor == "postgresql" and query != "" else 1
    with django_assert_num_queries(expected):
        later = owner_client.get(next_url(first), **HX)
    assert len(row_ids(later)) == 5 and not set(row_ids(later)) & set(row_ids(first))


def test_it_serves_a_repeat_request_from_the_cache(owner_client, owner, django_assert_num_queries):
    make_pipeline(owner)
    first = owner_client.get("/jobs/", **HX)
    with django_assert_num_queries(0):  # nothing: the session and its user are cached too
        again = owner_client.get("/jobs/", **HX)
    assert again.content == first.content


@pytest.mark.parametrize("first_id", [None, 1_000_000])
def test_it_keeps_the_fragment_under_15_kb_for_20_rows(owner_client, owner, first_id):
    # Also with seven-digit ids, as at a million pipelines: a row holds its id three times (tbody, tr, link).
    long_prompt = "a cinematic portrait of a woman in a red coat on a rainy street at night, neon reflections"
    for i in range(21):
        ids = {"id": first_id + i} if first_id else {}
        make_pipeline(owner, name=f"Client campaign — autumn look {i}", prompt=long_prompt, tags=["portrait", "client-acme"], outputs=4, status="completed", **ids)
    response = owner_client.get("/jobs/", **HX)
    assert len(row_ids(response)) == 20
    if first_id:
        assert min(row_ids(response)) >= first_id
    assert len(response.content) <= 15 * 1024, len(response.content)


def test_it_estimates_big_totals_on_postgresql(owner_client, owner):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("planner estimates are a PostgreSQL feature")
    now = timezone.now()
    Pipeline.objects.bulk_create(
        Pipeline(owner=owner, name=f"p{i}", search_text=f"p{i}", created_at=now - datetime.timedelta(seconds=i))
        for i in range(1500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    html = owner_client.get("/jobs/", **HX).content.decode()
    total = int(re.search(r"about ([\d,]+) pipelines", html).group(1).replace(",", ""))
    assert 1000 < total < 3000
    assert "11 pipelines" in owner_client.get("/jobs/?q=p149", **HX).content.decode()  # small: exact


def test_it_says_more_than_when_the_estimate_was_far_too_low(owner_client, owner, monkeypatch):
    """A word the planner puts at 1 (one ANALYZE in fourteen put one in 67,158 pipelines at 95):
    its fetch stops past 1,000 matches, and the page says so rather than "about 1,001"."""
    from django.db import connection

    from i2v.lib import pagination

    if connection.vendor != "postgresql":
        pytest.skip("planner estimates are a PostgreSQL feature")
    Pipeline.objects.bulk_create(Pipeline(owner=owner, name=f"p{i}", search_text=f"p{i}") for i in range(1200))
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (1, 10.0))
    response = owner_client.get("/jobs/?q=p", **HX)
    html = response.content.decode()
    assert len(row_ids(response)) == 20
    assert re.search(r"data-total=1001 data-noun=pipeline data-estimate>more than 1,000 pipelines<", html)


@pytest.mark.parametrize(
    "query",
    ["date_to=9999-12-31", "date_from=9999-12-31", "date_from=0001-01-01", "date_from=0001-01-01&date_to=9999-12-31"],
)
def test_it_takes_dates_at_the_ends_of_the_calendar(owner_client, owner, query):
    make_pipeline(owner, name="Kept")
    for extra in ({}, HX):
        response = owner_client.get(f"/jobs/?{query}", **extra)
        assert response.status_code == 200
        assert ("Kept" in response.content.decode()) == (not query.startswith("date_from=9999"))


def test_it_names_the_cells_that_scripts_address(owner_client, owner):
    # Row actions find a cell by its data-part (static/js/app.js, the rename form's target), and the plain text
    # cells are styled by their class, so a new column breaks none of them; positions (nth-child) appear nowhere
    # in the page, its script, its style or the views.
    from pathlib import Path

    from django.conf import settings

    p = make_pipeline(owner, tags=["red"])
    body = owner_client.get("/jobs/", **HX).content.decode()
    row = re.search(rf'<tr [^>]*id=row-{p.id}[ >].*?(?=<tbody|</table>)', body, re.S).group(0)  # </tr>, </tbody> implied
    for part in ("data-part=status", "data-part=name", "data-colour=", "<td class=i>", "<td class=n>", "<td class=c>$"):
        assert part in row
    assert "nth-child" not in body
    root = Path(settings.BASE_DIR)
    for source in ("static/js/app.js", "static/js/library.js", "static/css/app.css", "jobs/views.py", "library/views.py", "jobs/templates/jobs/jobs_page.html"):
        assert "nth-child" not in (root / source).read_text(), source


def test_it_answers_a_repeat_fragment_from_the_cache_by_its_own_parameters(owner_client, owner, django_assert_num_queries):
    make_pipeline(owner, name="Cached row")
    first = owner_client.get("/jobs/?status=&sort=newest", HTTP_HX_REQUEST="true")
    with django_assert_num_queries(0):
        again = owner_client.get("/jobs/?status=&sort=newest", HTTP_HX_REQUEST="true")
    assert again.content == first.content and b"Cached row" in again.content
    # A parameter the form doesn't know is no key of its own: the form drops it and the list is the same.
    junk = owner_client.get("/jobs/?status=&sort=newest&utm=x", HTTP_HX_REQUEST="true")
    assert junk.content == first.content


@pytest.mark.parametrize(
    "query, tested",
    [
        ("status=failed&q=batch&model=seedream-4", True),
        ("sort=cost&status=failed&q=batch&model=seedream-4", True),
        ("sort=cost&status=failed&q=batch", False),  # the status's own cost index (0016): nothing to test
        ("sort=name&hidden=only&q=batch", True),
        ("tag=keep&q=batch", True),
        ("sort=cost&status=failed&tag=keep", False),  # the index's entries hold all it tests
        ("model=flux-kontext&tag=keep", False),
        ("q=batch", False),  # nothing for the index's entries to test
    ],
)
def test_it_finds_a_walked_first_page_whichever_filters_the_index_tests(owner_client, owner, spread, settings, query, tested):
    """A first page found by a bounded walk (forced, through every row: each query has a page
    and one more of matches) is the list's first page, whether the walk tests the index's
    entries (status, model, favourites, hidden, tag) before reading the rows that pass, reads
    the index alone, or reads every row it walks."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk is PostgreSQL's")
    settings.LIST_CACHE = False
    for p in spread[::2]:
        p.add_tag("keep")
    Pipeline.objects.filter(pk__in=[p.pk for p in spread[::3]]).update(is_hidden=True)
    expected = row_ids(owner_client.get(f"/jobs/?{query}&page_size=3", **HX))
    assert len(expected) == 3
    with every_first_page_walked() as captured:
        walked = row_ids(owner_client.get(f"/jobs/?{query}&page_size=3", **HX))
    statements = " ".join(q["sql"] for q in captured.captured_queries)
    assert "WITH walk" in statements
    assert ("CROSS JOIN LATERAL" in statements) == tested
    assert walked == expected


@pytest.mark.parametrize(
    "query, status, sort",
    [("", None, "newest"), ("&status=failed", "failed", "newest"), ("&date_from={first}&date_to={last}", None, "newest"), ("", None, "oldest")],
)
def test_it_walks_a_rare_tag_with_a_text_through_the_tags_links_by_date(owner_client, owner, other, settings, query, status, sort):
    """A tag on a tenth or less of the pipelines, with a text, by date: the walk reads the tag's
    links in that order (jobs migration 0027), each with its pipeline's row, hidden ones and other
    filters tested there; the page is the list's, whichever link was made first, and so is the next."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk and the links' order are PostgreSQL's")
    settings.LIST_CACHE = False
    start = timezone.now() - datetime.timedelta(days=3)
    made = Pipeline.objects.bulk_create(
        Pipeline(owner=owner, name=f"Batch {i}", search_text=f"batch {i}", status=["failed", "completed"][i % 2],
                 created_at=start + datetime.timedelta(minutes=i // 2))  # ties in created_at, two by two
        for i in range(400)
    )  # fmt: skip
    tagged = made[::-37]  # 11 of them, tagged newest first: the links' ids go the other way
    for pipeline in tagged:
        pipeline.add_tag("rare")
    make_pipeline(other, name="Batch theirs", tags=["rare"])
    hidden = {tagged[0].pk, tagged[4].pk}
    Pipeline.objects.filter(pk__in=hidden).update(is_hidden=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline, jobs_pipelinetag")
    days = {"first": start.date().isoformat(), "last": (start + datetime.timedelta(days=1)).date().isoformat()}
    url = f"/jobs/?tag=rare&q=batch{query.format(**days)}&sort={sort}&page_size=3"
    listed = sorted((p for p in tagged if p.pk not in hidden and status in (None, p.status)), key=lambda p: (p.created_at, p.pk), reverse=sort == "newest")
    assert row_ids(owner_client.get(url, **HX)) == [p.pk for p in listed[:3]]  # as the planner finds it
    with every_first_page_walked(6) as captured:  # fewer links than the tag has: read in the wrong order, wrong rows
        response = owner_client.get(url, **HX)
        assert row_ids(response) == [p.pk for p in listed[:3]]
        assert row_ids(owner_client.get(next_url(response), **HX)) == [p.pk for p in listed[3:6]]
    walks = [q["sql"] for q in captured.captured_queries if "WITH walk" in q["sql"]]
    way = "DESC" if sort == "newest" else "ASC"
    assert len(walks) == 2 and all(f'ORDER BY "jobs_pipelinetag"."created_at" {way}' in walk for walk in walks)


@pytest.mark.parametrize(
    "query, index, listed",
    [
        ("status=failed", "pipe_status_cost", lambda p, hidden: p.status == "failed" and p.pk not in hidden),
        ("hidden=only", "pipe_hidden_cost", lambda p, hidden: p.pk in hidden),
        ("favorites=1", "pipe_favorite_cost", lambda p, hidden: p.is_favorite and p.pk not in hidden),
    ],
)
def test_it_walks_a_filter_sorted_by_cost_through_that_filters_cost_index(owner_client, owner, spread, settings, query, index, listed):
    """Sorted by cost with a status, hidden=only or favourites, the walk reads those pipelines in cost order from
    their own index (jobs migrations 0016, 0031): not the cost index, where they are as sparse as they are rare,
    nor their newest-first one, which would have to be read whole and sorted."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bounded walk and its index are PostgreSQL's")
    settings.LIST_CACHE = False
    hidden = {p.pk for p in spread[::4]}
    Pipeline.objects.filter(pk__in=hidden).update(is_hidden=True)
    # Enough completed ones, with statistics, that the filter's are rare in the cost index, and (a tenth of them
    # favourites, a tenth hidden) too many to be sorted for a walk of 30: the cheapest, without the text.
    Pipeline.objects.bulk_create(
        Pipeline(owner=owner, name=f"Other {i}", status="completed", total_cost=Decimal(0), is_favorite=i % 10 == 0, is_hidden=i % 10 == 5)
        for i in range(3000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    with every_first_page_walked(30) as captured:
        walked = row_ids(owner_client.get(f"/jobs/?sort=cost&{query}&q=batch&page_size=3", **HX))
    walk = next(q["sql"] for q in captured.captured_queries if "WITH walk" in q["sql"])
    plan = plan_by_index(walk).splitlines()
    start = next(n for n, line in enumerate(plan) if "CTE walk" in line)
    depth = len(plan[start]) - len(plan[start].lstrip())
    walk = list(itertools.takewhile(lambda line: len(line) - len(line.lstrip()) > depth, plan[start + 1 :]))
    assert index in "\n".join(walk), "\n".join(walk)
    expected = sorted((p for p in spread if listed(p, hidden)), key=lambda p: (p.total_cost, p.pk), reverse=True)[:3]
    assert len(expected) == 3 and walked == [p.pk for p in expected]


def test_it_keeps_the_tags_in_every_list_index_as_the_model_declares_it(db):
    """On PostgreSQL migration 0014 rebuilds Pipeline.Meta's list indexes with tag_names in
    their INCLUDE (no model field), and their condition's columns: each is the model's
    declaration plus those, so a change to the model's indexes that the migration doesn't
    follow fails here."""
    import importlib

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("tag_names is PostgreSQL's")
    migration = importlib.import_module("jobs.migrations.0014_list_indexes_hold_tags")
    declared = {index.name: index for index in Pipeline._meta.indexes}
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs_pipeline'")
        built = dict(cursor.fetchall())
    for name, (keys, included, where, _) in migration.LIST_INDEXES.items():
        index = declared[name]
        columns = ", ".join(
            Pipeline._meta.get_field(f.lstrip("-")).column + (" DESC" if f.startswith("-") else "") for f in index.fields
        )
        assert keys == columns, name
        assert included == [Pipeline._meta.get_field(f).column for f in index.include], name
        added = migration.ADDED[name]
        assert "tag_names" in added and f"({keys}) INCLUDE ({', '.join(included + added)})" in built[name], built[name]
        assert bool(where) == (index.condition is not None), name


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_it_searches_a_status_in_its_own_text_index(owner_client, owner, status):
    """A word with a status other than completed is read from that status's own trigram index
    (jobs migration 0021): in the visible pipelines' index, the word's entries span all of them
    ("status=pending&tag=4k&q=sailboat" 10.3 ms of SQL at a million pipelines, 3.7 so)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    expected = []
    for i in range(40):
        worded, statused = i % 4 == 0, i % 8 == 0 or i % 5 == 0  # each also without the other
        pipeline = make_pipeline(
            owner, outputs=0, prompt="a sailboat at dawn" if worded else "a lighthouse", status=status if statused else "completed"
        )
        if worded and statused:
            expected.append(pipeline.pk)
    response, plan = text_index_plan(owner_client, f"/jobs/?status={status}&q=sailboat", "jobs_pipeline")
    assert response.status_code == 200 and sorted(row_ids(response)) == sorted(expected)
    assert f"on pipe_search_{status}" in plan, plan
