import datetime
import json
import re
from decimal import Decimal

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import make_pipeline
from i2v.lib.pagination import (
    CursorError, DateRuns, Ordering, Total, decode_cursor, encode_cursor, first_page, list_page, paginate, walked_keys,
)
from jobs.models import Pipeline
from library.models import Asset

NEWEST = Pipeline.ORDERINGS["newest"]


def test_it_round_trips_exact_instants_and_decimals():
    moment = timezone.now().replace(microsecond=123456)
    cursor = encode_cursor(Pipeline, NEWEST, [moment, 42])
    assert decode_cursor(Pipeline, NEWEST, cursor) == ([moment, 42], False)
    cost = Pipeline.ORDERINGS["cost"]
    assert decode_cursor(Pipeline, cost, encode_cursor(Pipeline, cost, [Decimal("1.2500"), 7]))[0] == [Decimal("1.25"), 7]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        signing.Signer(salt="other").sign_object({"t": "jobs.pipeline", "o": "newest", "k": [1, 2]}),
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "newest", "k": [1]}),
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "newest", "k": ["x", 2]}),
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "newest", "k": [1, "x"]}),
        signing.Signer(salt="i2v.cursor").sign_object(["not", "a", "dict"]),
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "name", "k": ["a", 1]}),
        # Signed as the server signs, but past any column: the query would fail (a leaked secret makes one).
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "newest", "k": [0, 2**63]}),
        signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": "newest", "k": [-(2**80), 1]}),
    ],
)
def test_it_refuses_tampered_or_foreign_cursors(cursor):
    with pytest.raises(CursorError):
        decode_cursor(Pipeline, NEWEST, cursor)


def test_it_refuses_a_cursor_of_another_list_in_the_same_order():
    """The Library's newest first is the Jobs list's too (created_at, id): its cursor names its list."""
    cursor = encode_cursor(Asset, Asset.ORDERING, [timezone.now(), 10])
    assert decode_cursor(Asset, Asset.ORDERING, cursor)[0][1] == 10
    with pytest.raises(CursorError, match="another list"):
        decode_cursor(Pipeline, NEWEST, cursor)
    with pytest.raises(CursorError, match="another list"):  # signed before cursors named their list
        decode_cursor(Pipeline, NEWEST, signing.Signer(salt="i2v.cursor").sign_object({"o": "newest", "k": [0, 1]}))


@pytest.mark.parametrize(
    "sort, keys",
    [("name", ["a\x00b", 5]), ("name", ["\ud800", 5]), ("name", ["neon \udfff", 5]), ("name", [["a"], 5]), ("name", [{"a": 1}, 5]), ("name", ["x" * 201, 5]),
     ("cost", ["1e999999", 5]), ("cost", ["12345678901234567", 5]), ("cost", [1.5, 5])],
)  # fmt: skip
def test_it_refuses_signed_keys_no_column_holds(sort, keys):
    ordering = Pipeline.ORDERINGS[sort]
    with pytest.raises(CursorError):
        decode_cursor(Pipeline, ordering, signing.Signer(salt="i2v.cursor").sign_object({"t": "jobs.pipeline", "o": sort, "k": keys}))


def test_it_seeks_by_index_instead_of_skipping_rows(owner, django_assert_num_queries):
    make_pipeline(owner)
    cursor = encode_cursor(Pipeline, NEWEST, [timezone.now(), 10])
    with django_assert_num_queries(1) as captured:
        paginate(Pipeline.objects.filter(owner=owner), NEWEST, cursor, 20)
    sql = captured.captured_queries[0]["sql"]
    assert "OFFSET" not in sql.upper()
    assert '("jobs_pipeline"."created_at", "jobs_pipeline"."id") <' in sql  # one row comparison: the index seeks to it whole


@pytest.mark.parametrize(
    "total, shown",
    [
        (Total(0), "0 pipelines"), (Total(1), "1 pipeline"), (Total(1234), "1,234 pipelines"),
        (Total(950_000, is_estimate=True), "about 950,000 pipelines"), (Total(1, is_estimate=True), "about 1 pipeline"),
        (Total(1001, is_estimate=True, at_least=True), "more than 1,000 pipelines"),
    ],
)
def test_it_shows_a_total_as_what_is_known_of_it(total, shown):
    assert total.text("pipeline") == shown


def test_it_refuses_an_ordering_whose_fields_go_different_ways():
    with pytest.raises(ValueError):
        Ordering("mixed", (("total_cost", True), ("id", False)))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_it_seeks_past_ties_in_the_first_field_through_the_index(owner):
    """A cursor deep among rows of one cost: the index is entered at (cost, id), not at the
    first row of that cost (every tie before the cursor read: 741,002 entries at 1M pipelines)."""
    start = timezone.now()
    for i in range(40):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, total_cost=Decimal("0"))
    by_cost = Pipeline.ORDERINGS["cost"]
    mine = Pipeline.objects.filter(owner=owner)
    ids = list(mine.order_by(*by_cost.order_by()).values_list("id", flat=True))
    deep = mine.filter(by_cost.after([Decimal("0"), ids[29]])).order_by(*by_cost.order_by())
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")  # the order's index, whatever the table's statistics
    plan = deep.values_list("id", flat=True)[:5].explain()
    assert re.search(r"Index Cond: .*ROW\(total_cost, id\) < ROW", plan), plan
    assert list(deep.values_list("id", flat=True)[:5]) == ids[30:35]


def test_it_walks_backwards_from_a_prev_cursor(owner):
    start = timezone.now()
    made = [make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0) for i in range(9)]
    base = Pipeline.objects.filter(owner=owner)
    first = paginate(base, NEWEST, None, 4)
    second = paginate(base, NEWEST, first.next_cursor, 4)
    back = paginate(base, NEWEST, second.prev_cursor, 4)
    assert [p.id for p in back.items] == [p.id for p in first.items] == [p.id for p in reversed(made)][:4]
    assert back.has_next and not back.has_previous


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's pages are all paginate()'s")
@pytest.mark.parametrize("sort", ["newest", "cost"])
@pytest.mark.parametrize("read", ["fetched", "walked", "walked, then the planner's", "walked whole", "walked, entries tested", "by day", "in order"])
def test_it_finds_a_backward_cursors_page_as_a_forward_one_is_found(owner, monkeypatch, sort, read):
    """Every page of 10 favourites among 30 (costs with ties), three at a time, then each one
    again from the next page's prev_cursor: the same rows and links as paginate() gives, found
    in the reversed order the way a forward page is (a fetch, a walk of among read in order,
    whole, or its index's entries tested first, each day's merged), not by the one keyset
    query the planner plans with the filters taken for independent of the order (a backward
    page of "neon portrait" at a million pipelines: 128 ms of SQL). Where the list is among
    itself, read in order, that keyset query is the walk, and it stays (in order). Past walk_above
    the planner's LIMIT, planned for the rows that follow the cursor, intersected a word's whole
    bitmap with theirs where those were few (a backward page near the top of a million assets,
    "sailboat": 29 ms): a walk first, the planner's LIMIT only where it falls short, no fetch."""
    from i2v.lib import pagination

    start = timezone.now() - datetime.timedelta(days=3)
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(hours=2 * i), outputs=0, steps=0, total_cost=Decimal(i % 4), is_favorite=i % 3 == 0)
    if read.startswith("walked"):
        monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (500, 10.0))
    ordering = Pipeline.ORDERINGS[sort]
    among = Pipeline.objects.filter(owner=owner)
    filtered = among if read == "in order" else among.filtered(favorites=True)
    choices = {
        "fetched": {"among": among}, "walked": {"among": among, "exact_up_to": 2}, "in order": {"among": among},
        "walked, then the planner's": {"among": among, "exact_up_to": 2, "walk_above": 100},
        "walked whole": {"among": among, "exact_up_to": 2, "among_in_order": False},
        "walked, entries tested": {"among": among, "exact_up_to": 2, "tested": filtered},
        "by day": {"days": DateRuns((start - datetime.timedelta(days=1)).date(), timezone.now().date())},
    }[read]
    rows = lambda qs: qs  # noqa: E731
    pages, cursor = [], None
    while cursor is not False:
        pages.append(list_page(filtered, rows, ordering, cursor, 3, **choices)[0])
        assert pages[-1].items == paginate(filtered, ordering, cursor, 3).items
        cursor = pages[-1].next_cursor or False
    assert len(pages) == (10 if read == "in order" else 4)
    for before, page in zip(pages, pages[1:]):
        with CaptureQueriesContext(connection) as captured:
            back = list_page(filtered, rows, ordering, page.prev_cursor, 3, **choices)[0]
        assert back == paginate(filtered, ordering, page.prev_cursor, 3)
        assert [p.id for p in back.items] == [p.id for p in before.items] and back.has_next
        assert back.has_previous == before.has_previous
        statements = " ".join(q["sql"] for q in captured.captured_queries)
        if read == "in order":
            assert len(captured.captured_queries) == 1
        else:
            assert ("generate_series" if read == "by day" else "WITH ") in statements


def test_it_counts_a_small_list_from_the_keys_its_first_page_comes_from(owner, django_assert_num_queries):
    from django.db import connection

    start = timezone.now()
    made = [make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0) for i in range(5)]
    base = Pipeline.objects.filter(owner=owner)
    # The keys (capped), then the page's rows by primary key; on PostgreSQL an estimate first.
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 2):
        page, total = first_page(base, lambda rows: rows.only("id", "created_at"), NEWEST, 2)
    assert total == Total(5)
    assert [p.id for p in page.items] == [made[4].id, made[3].id]
    assert page.has_next and not page.has_previous
    assert [p.id for p in paginate(base, NEWEST, page.next_cursor, 2).items] == [made[2].id, made[1].id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("sort", ["newest", "cost"])
@pytest.mark.parametrize("length", [3, 7, 50])
@pytest.mark.parametrize("tested", [False, True])
@pytest.mark.parametrize("in_order", [True, False])
def test_it_finds_the_same_keys_by_a_bounded_walk_or_its_fallback(owner, other, sort, length, tested, in_order, django_assert_num_queries):
    """Whether the walk holds a page (length 50), falls short and falls back (3), or ends
    on the page's last match (7): the keys are the first in the order, ties in cost included.
    The same when the index's entries are tested for favourites first and only the rows
    that pass are read (tested), which a tag, kept in the row alone, makes worth it, and
    when `among` is read whole and sorted (not in order: a short range sorted by cost)."""
    start = timezone.now()
    # Newest first: favourites 11, 8, 5, 2; every cost the same, so "cost" orders by id alone.
    made = [
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0,
                      is_favorite=i % 3 == 2, tags=["4k"] if i % 2 else ())
        for i in range(12)
    ]  # fmt: skip
    make_pipeline(other, created_at=start + datetime.timedelta(seconds=99), outputs=0, steps=0, is_favorite=True)
    ordering = Pipeline.ORDERINGS[sort]
    among = Pipeline.objects.filter(owner=owner)
    for filters, expected in [({"favorites": True}, [11, 8, 5]), ({"favorites": True, "tag": "4k"}, [11, 5]), ({"tag": "nope"}, [])]:
        narrowed = among.filtered(favorites=filters.get("favorites", False)) if tested else None
        # What the walk may read, newest (and, every cost the same, dearest) first: among's rows, or read whole
        # and sorted, what passes the filters its index holds. The fetch follows a walk that met less than a
        # page where those were more than it read.
        readable = [i for i in range(11, -1, -1) if in_order or not tested or "favorites" not in filters or i % 3 == 2]
        fetched = not (len(expected) == 3 and set(expected) <= set(readable[:length])) and length <= len(readable)
        with django_assert_num_queries(1 + fetched) as captured:
            keys = walked_keys(among.filtered(**filters), among, ordering, 3, length, narrowed, among_in_order=in_order)
        assert keys == [made[i].id for i in expected]
        # Entries first, then rows, only where the filters need more than the entries hold.
        sql = captured.captured_queries[0]["sql"]
        assert ("CROSS JOIN LATERAL" in sql) == (tested and "tag" in filters)
        assert bool(re.search(r'OFFSET 0\) AS "jobs_pipeline" ORDER BY', sql)) == (not in_order)


def _sorted_rows(node):
    """The rows each Sort node under `node` took in (EXPLAIN ANALYZE, JSON)."""
    taken = [child["Actual Rows"] for child in node.get("Plans", [])] if node["Node Type"] == "Sort" else []
    return taken + [n for child in node.get("Plans", []) for n in _sorted_rows(child)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
def test_it_sorts_only_what_the_entries_filters_pass_when_among_is_read_whole(owner):
    """`among` read whole and sorted (a short range by cost): what is sorted is what passes `tested` (the
    filters the index holds), not every row of among: the 4 favourites of 12 (a week by cost with a tag
    sorted 9,239 entries for 462 at a million pipelines)."""
    start = timezone.now()
    made = [make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i % 3 == 2) for i in range(12)]
    among = Pipeline.objects.filter(owner=owner)
    with CaptureQueriesContext(connection) as captured:
        keys = walked_keys(among.filtered(favorites=True), among, Pipeline.ORDERINGS["cost"], 3, 50, among.filtered(favorites=True), among_in_order=False)
    assert keys == [made[11].id, made[8].id, made[5].id]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + captured.captured_queries[0]["sql"])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert max(_sorted_rows(plan[0]["Plan"])) == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("length, among_rows, fetched", [(13, None, False), (50, None, False), (12, None, True), (5, None, True), (13, 26, True), (13, 25, False)])
def test_it_fetches_no_more_matches_after_a_walk_that_read_all_of_among(owner, length, among_rows, fetched, django_assert_num_queries):
    """Two favourites among 12 rows, a page of 3: a walk that may read more rows than `among`
    holds has read them all and found every match, so the fenced fetch doesn't run (the last
    page of a week after a cursor: 5.6 ms of a fetch, at a million pipelines, to find again
    what the walk had). One allowed no more than `among` holds, or fewer, can't know that;
    nor does one told that among holds at least twice its length (`among_rows`, the
    planner's estimate, wrong here): it doesn't count among's rows, and fetches."""
    start = timezone.now()
    for i in range(12):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i in (3, 7))
    among = Pipeline.objects.filter(owner=owner)
    with django_assert_num_queries(1 + fetched) as captured:
        keys = walked_keys(among.filtered(favorites=True), among, NEWEST, 3, length, among_rows=among_rows)
    assert keys == list(among.filter(is_favorite=True).order_by("-created_at", "-id").values_list("id", flat=True))
    assert [q["sql"].startswith("WITH walk") for q in captured.captured_queries] == [True, *[False] * fetched]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("favourites, walks", [(30, True), (6, False)])
def test_it_walks_only_where_matches_are_dense_enough_for_a_page(owner, favourites, walks, django_assert_num_queries):
    """A walk of 30 rows meets 15 of 30 favourites among 60 (dense: walked), but 3 of 6 (sparse:
    the fenced fetch at once, instead of a walk in vain before it)."""
    start = timezone.now()
    for i in range(60):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i % (60 // favourites) == 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    with django_assert_num_queries(4) as captured:
        page, (total, estimate, _at_least) = first_page(filtered, lambda qs: qs, NEWEST, 2, exact_up_to=1, walk_above=1000, among=among, walk_length=30)
    assert ("WITH walk" in captured.captured_queries[2]["sql"]) == walks
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("every, length", [(15, 135), (3, 50), (2, 18)])
def test_it_walks_as_far_as_three_pages_at_the_estimated_density_or_the_fetch_would_read(owner, every, length, django_assert_num_queries):
    """Among 150 pipelines, a page of 3 is met three times over in 135 rows with 10 favourites,
    more than the 10 a fetch would read: the walk reads 135. With 50 favourites, three pages lie in
    27 rows, fewer than the fetch's 50: the walk reads 50 (one that falls short pays for the fetch
    too). With 75, more than a third of among, no fetch follows a walk (the planner's LIMIT
    does): three pages, 18 rows. Never further, however far it is allowed to."""
    start = timezone.now()
    for i in range(150):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i % every == 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    with django_assert_num_queries(4) as captured:
        first_page(among.filtered(favorites=True), lambda qs: qs, NEWEST, 2, exact_up_to=1, walk_above=1000, among=among, walk_length=1000)
    walk = captured.captured_queries[2]["sql"]
    assert "WITH walk" in walk
    assert re.search(rf"\bLIMIT {length}\b", walk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("in_order, favourites, walks", [(True, False, False), (False, False, True), (True, True, True)])
def test_it_walks_a_big_list_by_the_orders_index_only_when_it_meets_every_match(owner, in_order, favourites, walks, django_assert_max_num_queries):
    """Past walk_above matches the page is the order's index read with a plain LIMIT when every
    entry it reads is a match; not when no index reads `among` in the order (a date range sorted
    by cost), nor with a filter `tested` on its entries: the planner, taking them for independent
    of the order, would walk until it met them, however far (a month of pipelines all cheaper
    than the newer ones: 740,874 entries read for 21, 217 ms, measured). Those walk as far as
    three pages at the estimated density, then fetch."""
    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, total_cost=Decimal(i % 7), is_favorite=i < 27)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True) if favourites else among
    by_cost = Pipeline.ORDERINGS["cost"]
    with django_assert_max_num_queries(4) as captured:
        page, (total, estimate, _at_least) = first_page(
            filtered, lambda qs: qs, by_cost, 3, exact_up_to=3, walk_above=10, among=among,
            tested=filtered if favourites else None, among_in_order=in_order,
        )  # fmt: skip
    keys = captured.captured_queries[-2]["sql"]
    assert ("WITH walk" in keys) == walks
    assert estimate and total >= 3
    assert [p.id for p in page.items] == list(filtered.order_by("-total_cost", "-id").values_list("id", flat=True)[:3])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("favourites, fenced", [(27, False), (8, True)])
def test_it_falls_back_to_the_planners_walk_for_matches_too_many_to_fetch(owner, favourites, fenced, monkeypatch, django_assert_max_num_queries):
    """A walk that falls short fetches its matches and sorts them, behind a fence, unless they
    are more than a third of among's rows: then fetching costs more than the order's index
    walked through all of them (a year of 481,675 pipelines by cost: 314 ms against 108), and
    the planner's plain LIMIT follows the walk."""
    from i2v.lib import pagination

    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i < favourites)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    monkeypatch.setattr(pagination, "_walk_length", lambda *args: 1)  # a walk of one row: short of a page
    with django_assert_max_num_queries(5) as captured:
        page, _ = first_page(filtered, lambda qs: qs, NEWEST, 2, exact_up_to=2, walk_above=4, among=among, tested=filtered)
    walk, fetch = [q["sql"] for q in captured.captured_queries[-3:-1]]  # the rows last
    assert "WITH walk" in walk
    assert ("OFFSET 0)" in fetch) == fenced
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.fixture
def favourites_among_30(owner):
    """(among, filtered): 30 pipelines of the owner, analyzed, and the 6 favourites among them."""
    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i % 5 == 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    return among, filtered


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("costly_above, walks", [(0, True), (10**9, False)])
def test_it_walks_to_a_few_matches_only_when_fetching_them_all_is_costly(favourites_among_30, costly_above, walks, django_assert_num_queries):
    """6 favourites among 30, fewer than exact_up_to: fetched with their exact number, unless
    the planner prices that fetch past costly_above (a common word's trigrams, a range's rows
    tested one by one), when a walk finds the page, reading no more than the 30 (three pages
    at that density would be 45)."""
    among, filtered = favourites_among_30
    with django_assert_num_queries(4 if walks else 3) as captured:
        page, (total, estimate, _at_least) = first_page(filtered, lambda qs: qs, NEWEST, 2, among=among, costly_above=costly_above)
    statements = [q["sql"] for q in captured.captured_queries]
    assert any("WITH walk" in sql for sql in statements) == walks
    if walks:
        assert re.search(r"\bLIMIT 30\b", statements[2]) and estimate
    else:
        assert (total, estimate) == (6, False)
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("entry_cost, walk_length, walks", [(0, 29, True), (10**6, 29, False), (10**6, 30_000, True)])
def test_it_fetches_a_few_costly_matches_where_walking_the_entries_for_a_page_costs_more(
    favourites_among_30, monkeypatch, entry_cost, walk_length, walks, django_assert_max_num_queries,
):
    """The same favourites, their fetch priced costly, the entries testable first (tested): walked for only
    where the entries a page takes at their density (15 of the 30) cost less than the fetch (ENTRY_COST each);
    otherwise fetched, with their exact number (failed pipelines with a tag and a word: 8,512 entries walked
    for a page, 4.8-8.4 ms, where the fetch took 1.4-2.2). Where among is short enough (no longer than
    walk_length) for the fetch to go through its entries, that fetch reads all 30 whatever the planner's plan
    would cost, and a walk never more: walked for (the failed assets with "sailboat" at a million assets:
    6.2 ms a page fetched so, 1.7 walked)."""
    from i2v.lib import pagination

    among, filtered = favourites_among_30
    monkeypatch.setattr(pagination, "ENTRY_COST", entry_cost)
    with django_assert_max_num_queries(4) as captured:
        page, (total, estimate, _at_least) = first_page(
            filtered, lambda qs: qs, NEWEST, 2, among=among, tested=filtered, costly_above=0, walk_length=walk_length,
        )
    assert any("WITH walk" in q["sql"] for q in captured.captured_queries) == walks
    assert walks or (total, estimate) == (6, False)
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("walk_rows_per_cost, walks", [(None, True), (10**6, True), (10**-6, False)])
@pytest.mark.parametrize("exact_up_to, costly_above", [(1000, 0), (2, 10**9)])
def test_it_walks_no_more_rows_than_the_fetch_costs(favourites_among_30, walk_rows_per_cost, walks, exact_up_to, costly_above, django_assert_num_queries):
    """The 6 favourites among 30 of the test above, priced costly or more than exact_up_to: a
    walk would read the 30, so where walk_rows_per_cost times the fetch's cost is less than
    that, they are fetched instead, with their exact number, whatever the estimate."""
    among, filtered = favourites_among_30
    with django_assert_num_queries(4) as captured:  # the estimate, among's (for the walk's length), the keys, the rows
        page, (total, estimate, _at_least) = first_page(
            filtered, lambda qs: qs, NEWEST, 2, among=among, exact_up_to=exact_up_to, costly_above=costly_above, walk_rows_per_cost=walk_rows_per_cost,
        )
    assert any("WITH walk" in q["sql"] for q in captured.captured_queries) == walks
    assert estimate if walks else (total, estimate) == (6, False)
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("walk_rows_per_cost, walks", [(None, False), (10**6, True)])
def test_it_walks_as_far_as_a_priced_fetch_costs_where_a_page_is_expected(favourites_among_30, walk_rows_per_cost, walks, django_assert_num_queries):
    """The 6 favourites among 30, a walk allowed 20 rows: three pages at that density are all 30,
    one is 15. A list that prices its fetch in rows walked (walk_rows_per_cost, more than the 20
    here) walks the 20 for it; one that doesn't fetches the 6 with their exact number."""
    among, filtered = favourites_among_30
    with django_assert_num_queries(4) as captured:
        page, (total, estimate, _at_least) = first_page(
            filtered, lambda qs: qs, NEWEST, 2, among=among, exact_up_to=2, costly_above=10**9, walk_length=20,
            walk_rows_per_cost=walk_rows_per_cost,
        )
    walk = [q["sql"] for q in captured.captured_queries if "WITH walk" in q["sql"]]
    assert bool(walk) == walks
    if walks:
        assert re.search(r"\bLIMIT 20\b", walk[0]) and estimate
    else:
        assert (total, estimate) == (6, False)
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("favourites, walks", [(6, False), (15, True)])
def test_it_walks_when_the_fetch_finds_ten_times_the_estimate(owner, monkeypatch, favourites, walks, django_assert_num_queries):
    """The planner puts the favourites at 1 (a word's estimate can be that wrong): their fetch
    stops past ten times that, or exact_up_to (10), and the page is walked for instead, its
    total the matches fetched, an estimate; within the bound, they are all fetched and counted."""
    from i2v.lib import pagination

    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i < favourites)
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (1, 10**6))
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    # Walked: the fetch, among's estimate, the walk (the newest 15 no favourites), what follows it short, the rows.
    with django_assert_num_queries(5 if walks else 2) as captured:
        page, total = first_page(filtered, lambda qs: qs, NEWEST, 2, among=among, exact_up_to=10)
    statements = [q["sql"] for q in captured.captured_queries]
    assert re.search(r"\bLIMIT 11\) SELECT", next(sql for sql in statements if "WITH matches" in sql))
    assert any("WITH walk" in sql for sql in statements) == walks
    assert total == (Total(11, is_estimate=True, at_least=True) if walks else Total(favourites))
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
@pytest.mark.parametrize("costly_above, through", [(0, True), (10**9, False)])
@pytest.mark.parametrize("in_order", [True, False])
def test_it_fetches_a_few_costly_matches_through_a_short_amongs_entries(owner, other, costly_above, through, in_order, django_assert_max_num_queries):
    """Fewer matches than a page, priced past costly_above, among rows no more than a walk's
    length: all of them come from among's entries tested there (favourites) and the rows of
    those that pass (the tag), with their exact number, whichever way among is read."""
    start = timezone.now()
    made = [
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0,
                      is_favorite=i % 3 == 0, tags=["4k"] if i in (3, 9) else ())
        for i in range(30)
    ]  # fmt: skip
    make_pipeline(other, created_at=start, outputs=0, steps=0, is_favorite=True, tags=["4k"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True, tag="4k")
    with django_assert_max_num_queries(4) as captured:
        page, total = first_page(
            filtered, lambda qs: qs, NEWEST, 5, among=among, tested=among.filtered(favorites=True),
            costly_above=costly_above, among_in_order=in_order,
        )  # fmt: skip
    fetch = next(q["sql"] for q in captured.captured_queries if "WITH matches" in q["sql"])
    assert ("CROSS JOIN LATERAL" in fetch) == through
    assert total == Total(2)
    assert [p.id for p in page.items] == [made[9].id, made[3].id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimates are PostgreSQL's")
def test_it_reuses_the_planners_estimates_for_a_minute(owner, monkeypatch, django_assert_num_queries):
    """A walk's rows, a date range's, a first page's matches: estimated once a minute per
    process and SQL (the planner's own view moves only with ANALYZE); asked without reuse,
    every time."""
    from i2v.lib import pagination

    make_pipeline(owner, outputs=0, steps=0)
    rows = Pipeline.objects.filter(owner=owner)
    clock = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: clock[0])
    with django_assert_num_queries(1):
        first = pagination.planner_rows(rows, reuse=True)
        assert pagination.planner_rows(rows, reuse=True) == first
    with django_assert_num_queries(1):
        pagination.planner_rows(rows.filter(is_favorite=True), reuse=True)  # other SQL
    with django_assert_num_queries(2):
        pagination.planner_rows(rows)
        pagination.planner_rows(rows)
    clock[0] += pagination.ESTIMATES_KEPT + 1
    with django_assert_num_queries(1):
        assert pagination.planner_rows(rows, reuse=True) == first

    def explains():
        with django_assert_num_queries(3 if explained else 2) as captured:  # the estimate, the keys with their number, the rows
            page, total = first_page(rows.filter(is_hidden=False), lambda qs: qs, NEWEST, 10)
        assert len(page.items) == 1 and total == Total(1)
        return sum(q["sql"].startswith("EXPLAIN") for q in captured.captured_queries)

    explained = True
    assert explains() == 1
    explained = False
    assert explains() == 0
    clock[0] += pagination.ESTIMATES_KEPT + 1
    explained = True
    assert explains() == 1


def test_it_reuses_what_a_list_built_of_its_filters_for_a_minute(owner, monkeypatch):
    """A list's querysets, made of its filters: this process's of the last minute, never one
    whose rows were read (they would be that moment's)."""
    from i2v.lib import pagination

    clock = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: clock[0])
    built = []

    def build():
        built.append(Pipeline.objects.filter(owner=owner, is_hidden=False))
        return built[-1], None

    assert pagination.reused(("jobs", owner.id), {"q": ""}, build) == (built[0], None)
    assert pagination.reused(("jobs", owner.id), {"q": ""}, build)[0] is built[0] and len(built) == 1
    pagination.reused(("jobs", owner.id), {"q": "x"}, build)  # other filters
    with timezone.override("Pacific/Auckland"):  # a date filter's days are other instants there
        assert pagination.reused(("jobs", owner.id), {"q": ""}, build)[0] is built[2] and len(built) == 3
    clock[0] += pagination.ESTIMATES_KEPT + 1
    assert pagination.reused(("jobs", owner.id), {"q": ""}, build)[0] is built[3]
    list(built[3])  # read: it holds those rows now
    make_pipeline(owner, outputs=0, steps=0)
    kept = pagination.reused(("jobs", owner.id), {"q": ""}, build)[0]
    assert kept is built[4] and kept._result_cache is None and len(kept) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's cursor pages are all one keyset query")
def test_it_finds_a_library_pages_backward_as_a_first_page_is_found(owner):
    """The Library's forward cursor's page of a word is one keyset query; a backward one's
    (prev_cursor) is found as a first page is, in the reversed order: near the top few rows follow
    its cursor read backwards, and the planner intersected every match of a word with those (29 ms
    of SQL for "sailboat" at a million assets; 7.9 so). The same rows either way."""
    from conftest import make_asset
    from library.models import Asset

    start = timezone.now()
    made = []
    for i in range(12):
        asset = make_asset(owner)
        Asset.objects.filter(pk=asset.pk).update(created_at=start + datetime.timedelta(seconds=i), filename=f"holiday-{i}" if i % 2 else "x")
        made.append(asset.pk)
    expected = made[1::2][::-1]
    filters = dict(kind="", source="", status="", q="holiday", date_from=None, date_to=None)

    def listed(cursor):
        with CaptureQueriesContext(connection) as captured:
            page = Asset.objects.library_list(owner.id, filters, cursor, 2)[0]
        keyset = any('ORDER BY "library_asset"."created_at"' in q["sql"] and "LIMIT 3" in q["sql"] for q in captured.captured_queries)
        return page, keyset  # keyset: the page's keys and rows in one statement, ordered and limited

    first = listed(None)[0]
    second, forward_keyset = listed(first.next_cursor)
    third = listed(second.next_cursor)[0]
    back, backward_keyset = listed(third.prev_cursor)
    assert [a.pk for page in (first, second, third) for a in page.items] == expected
    assert back == second and forward_keyset and not backward_keyset


def test_it_lists_each_owners_rows_through_what_it_reused(owner, other):
    """The lists' kept querysets are per owner (whatever queryset asks) and hold no rows: a
    pipeline or an asset made since shows on the next first page."""
    from conftest import make_asset
    from library.models import Asset

    make_pipeline(other, outputs=0, steps=0)
    make_asset(other)
    filters = dict(status="", tag="", favorites=False, hidden="", q="", date_from=None, date_to=None, model="")
    mine = lambda: Pipeline.objects.filter(owner=other).jobs_list(owner.id, filters, NEWEST, None, 10)  # noqa: E731
    assets = lambda: Asset.objects.library_list(owner.id, dict(kind="", source="", status="", q=""), None, 10)  # noqa: E731
    assert mine()[0].items == [] and assets()[0].items == []
    made, asset = make_pipeline(owner, outputs=0, steps=0), make_asset(owner)
    assert [p.id for p in mine()[0].items] == [made.id] and [a.id for a in assets()[0].items] == [asset.id]
    assert [p.id for p in Pipeline.objects.jobs_list(other.id, filters, NEWEST, None, 10)[0].items] != [made.id]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimates are PostgreSQL's")
def test_it_plans_a_minute_of_first_pages_with_the_matches_a_wrong_estimate_found(favourites_among_30, monkeypatch, django_assert_num_queries):
    """The planner puts the 6 favourites at 500 (filters it takes for independent may never
    meet): the first page walks for them in vain, then fetches them. All on that page, they
    are fetched at once, with their exact number, for the next minute; then the planner's
    number is taken again. A page after a cursor teaches nothing."""
    from i2v.lib import pagination

    among, filtered = favourites_among_30
    clock = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (500, 10.0))
    expected = list(filtered.order_by("-created_at", "-id").values_list("id", flat=True))

    def statements(queries):
        with django_assert_num_queries(queries) as captured:
            page, total = first_page(filtered, lambda qs: qs, NEWEST, 10, exact_up_to=10, among=among)
        assert [p.id for p in page.items] == expected and total == Total(6)
        return " ".join(q["sql"] for q in captured.captured_queries)

    assert "WITH walk" in statements(4)  # among's estimate, the walk, its fetch, the rows
    assert "WITH walk" not in statements(2)  # the keys with their number, the rows
    clock[0] += pagination.ESTIMATES_KEPT + 1
    assert "WITH walk" in statements(4)  # among's estimate, asked again too

    pagination._estimates.clear()
    cursor = [filtered.get(pk=expected[0]).created_at, expected[0]]
    first_page(filtered, lambda qs: qs, NEWEST, 10, exact_up_to=10, among=among, after=cursor)
    assert not any(key[0] == "found" for key in pagination._estimates)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimates are PostgreSQL's")
def test_it_walks_at_once_for_a_minute_after_a_fetch_passed_its_bound(owner, monkeypatch, django_assert_num_queries):
    """The planner puts 15 favourites at 1: the first page's fetch stops past exact_up_to (10)
    and walks. For the next minute the same filters' pages, a cursor's too, walk at once, with
    the same floor for a total; then the fetch runs again. A floor recalled
    is not kept anew, so it lapses with its minute however often it is used."""
    from i2v.lib import pagination

    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i % 2 == 0)
    clock = [1000.0]
    monkeypatch.setattr(pagination.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (1, 10**6))
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    expected = list(filtered.order_by("-created_at", "-id").values_list("id", flat=True))
    floor = Total(11, is_estimate=True, at_least=True)

    def statements(queries, after=None):
        with django_assert_num_queries(queries) as captured:
            page, total = first_page(filtered, lambda qs: qs, NEWEST, 2, among=among, exact_up_to=10, after=after)
        shown = expected if after is None else [pk for pk in expected if pk < after[1]]
        assert [p.id for p in page.items] == shown[:2] and total == floor
        return " ".join(q["sql"] for q in captured.captured_queries)

    assert "WITH matches" in statements(5)  # the fetch, among's estimate, the walk, what follows it short, the rows
    clock[0] += pagination.ESTIMATES_KEPT - 1
    assert "WITH matches" not in statements(3)  # the walk (short: the estimate's length), what follows it, the rows
    cursor = [filtered.get(pk=expected[1]).created_at, expected[1]]
    assert "WITH matches" not in statements(3, after=cursor)  # the walk, what follows it short, the rows
    clock[0] += 2  # a minute after the fetch, however often the floor was recalled since
    assert "WITH matches" in statements(5)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's (SQLite fetches the keys)")
def test_it_prices_the_walk_by_what_the_fetch_found_not_by_the_estimate(owner, monkeypatch, django_assert_num_queries):
    """A walk priced by the fetch's cost (walk_rows_per_cost 5, the planner's cost 2: 10 rows) for
    15 favourites among 30 the planner puts at 1: the fetch stops past exact_up_to (10), and the
    fetch of the 11 found would cost 11 times what the planner priced, so the walk may read
    110 rows and reads as far as three pages at that density (25), not the 10 the estimate paid for."""
    from i2v.lib import pagination

    start = timezone.now()
    for i in range(30):
        make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0, is_favorite=i < 15)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (1, 2.0))
    among = Pipeline.objects.filter(owner=owner)
    filtered = among.filtered(favorites=True)
    with django_assert_num_queries(4) as captured:  # the fetch, among's estimate, the walk, the rows
        page, total = first_page(filtered, lambda qs: qs, NEWEST, 2, among=among, exact_up_to=10, walk_rows_per_cost=5)
    walk = next(q["sql"] for q in captured.captured_queries if "WITH walk" in q["sql"])
    assert re.search(r"\bLIMIT 25\b", walk)
    assert total == Total(11, is_estimate=True, at_least=True)
    assert [p.id for p in page.items] == list(filtered.order_by("-created_at", "-id").values_list("id", flat=True)[:2])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite counts in a query of its own")
def test_it_counts_every_match_in_the_statement_that_fetches_the_page(owner, django_assert_num_queries):
    """Past the exact_up_to cap, with no walk, the fenced fetch still knows the exact total:
    it counts what it fetched, in the same statement."""
    start = timezone.now()
    made = [make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), outputs=0, steps=0) for i in range(30)]
    base = Pipeline.objects.filter(owner=owner)
    with django_assert_num_queries(3):  # the estimate, the keys with the count, the rows
        page, total = first_page(base, lambda qs: qs, NEWEST, 2, exact_up_to=1, walk_above=1000)
    assert total == Total(30)
    assert [p.id for p in page.items] == [made[29].id, made[28].id]
    empty = base.filter(name="nothing of the kind")
    assert first_page(empty, lambda qs: qs, NEWEST, 2, exact_up_to=1, walk_above=1000)[1] == Total(0)


def test_it_runs_a_range_by_day_or_by_the_months_it_lies_in():
    """The runs of an index keyed by the UTC day, or month, of a range's days: across a year's end too."""
    days = DateRuns(datetime.date(2025, 12, 30), datetime.date(2026, 1, 2))
    assert days.starts() == [datetime.date(2025, 12, 30), datetime.date(2025, 12, 31), datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)]
    months = DateRuns(datetime.date(2025, 11, 30), datetime.date(2026, 2, 1), months=True)
    assert months.starts() == [datetime.date(2025, 11, 1), datetime.date(2025, 12, 1), datetime.date(2026, 1, 1), datetime.date(2026, 2, 1)]
    assert len(months) == 4 and len(DateRuns(datetime.date(2025, 6, 2), datetime.date(2025, 6, 29), months=True)) == 1
    assert "date_trunc('month', " in months.run_sql(Pipeline.objects.all())
    assert "TIMESTAMP '2026-02-01' ORDER BY" in months.merged("m", "t", ["id"], "id DESC")
