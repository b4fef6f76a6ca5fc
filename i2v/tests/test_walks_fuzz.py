"""Property: a first page found by a bounded walk is the list's first page, and the page after
its cursor (the Jobs list's found the same way among the rows that follow it) is the second.

Whatever the filters, the order and how far the walk may read (forced: every first
page walked, `length` rows at most, then the fenced fetch), the Jobs and Library first
pages hold the rows the plain ORM query puts first, ties in name, cost and date
included, and know whether more follow. Rows of another owner, hidden ones, names that
differ by case, and words with LIKE's wildcards, a backslash and quotes are in the data.
"""

import datetime
import hashlib
import itertools
import random
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from conftest import every_first_page_walked, make_pipeline, plan_by_index
from jobs import listing
from jobs.models import Pipeline
from library.models import Asset

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's")

PROMPTS = ["a cat on a boat", "100% sure_x", "back\\slash 'q' \"dq\"", "dog"]


@pytest.fixture
def start():
    return timezone.now() - datetime.timedelta(days=10)


def _sometimes_a_range(rnd, filters, start):
    if rnd.random() < 0.4:
        filters.update(date_from=(start + datetime.timedelta(hours=1)).date(), date_to=(start + datetime.timedelta(hours=60)).date())
    return filters


def _walked_first_page(length, call):
    """(page, statements) of `call()` with every first page walked, `length` rows at most."""
    with every_first_page_walked(length) as captured:
        page, _ = call()
    return page, " ".join(q["sql"] for q in captured.captured_queries)


@pytest.mark.parametrize("sort", ["newest", "oldest", "name", "cost"])
@pytest.mark.parametrize("length", [1, 4, 25, 1000])
def test_it_walks_to_the_jobs_lists_first_page(owner, other, start, sort, length, monkeypatch):
    # A tag's links walked wherever its pipelines are no more than among's (jobs/listing.py
    # _tag_links()): those of the common tags too, with every other filter, hidden ones and cursors.
    monkeypatch.setattr(listing, "TAG_LINKS_RATIO", 1)
    rnd = random.Random(7)
    for i in range(70):
        make_pipeline(
            owner if i % 9 else other, name=rnd.choice(["Alpha", "alpha", "Beta", "beta", "Zed"]),
            created_at=start + datetime.timedelta(hours=rnd.choice([0, 0, 1, 2, 30, 50, 100, 200])),
            status=rnd.choice(["completed", "failed", "running", "pending"]), model=rnd.choice(["flux-kontext", "seedream-4"]),
            total_cost=Decimal(rnd.choice([0, 1, 1, 2])), is_favorite=rnd.random() < 0.4, is_hidden=rnd.random() < 0.3,
            outputs=0, steps=0, prompt=rnd.choice(PROMPTS),
            tags=rnd.sample(["keep", "4k", "x"], rnd.randint(0, 2)) + ["rare"] * (i % 20 == 0),
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline, jobs_pipelinetag")
    choices = dict(
        status=["", "failed"], model=["", "seedream-4"], favorites=[False, True], hidden=["", "include", "only"],
        tag=["", "keep", "rare"], q=["", "cat", "100%", "_x", "\\sl", "'q'"],
    )  # fmt: skip
    combinations = list(itertools.product(*choices.values()))
    rnd.shuffle(combinations)
    ordering = Pipeline.ORDERINGS[sort]
    mine = Pipeline.objects.filter(owner=owner)
    wrong, statements = [], ""
    for values in combinations[:60]:
        filters = _sometimes_a_range(rnd, dict(zip(choices, values)), start)
        expected = list(mine.filtered(**filters).order_by(*ordering.order_by()).values_list("pk", flat=True)[:7])
        page, sql = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, filters, ordering, None, 3))
        statements += sql
        if [p.pk for p in page.items] != expected[:3] or page.has_next != (len(expected) > 3):
            wrong.append((filters, [p.pk for p in page.items], expected))
        elif page.has_next:  # the next page, found the same way among the rows after the cursor
            second, sql = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, filters, ordering, page.next_cursor, 3))
            statements += sql
            if [p.pk for p in second.items] != expected[3:6] or second.has_next != (len(expected) > 6) or not second.has_previous:
                wrong.append((filters, "second page", [p.pk for p in second.items], expected))
    assert not wrong, wrong[:3]
    assert "WITH walk" in statements and "CROSS JOIN LATERAL" in statements  # both kinds of walk were taken
    # A tag with a text, by date or by cost, along the tag's links.
    assert ('ORDER BY "jobs_pipelinetag"."created_at"' in statements) == (sort in ("newest", "oldest"))
    assert ('ORDER BY "jobs_pipelinetag"."total_cost"' in statements) == (sort == "cost")
    # A short range in another order is read whole and sorted (jobs/listing.py _walked()).
    assert bool(re.search(r'OFFSET 0\) AS "jobs_pipeline" ORDER BY', statements)) == (sort in ("name", "cost"))


@pytest.mark.parametrize("length", [1, 5, 20, 1000])
def test_it_walks_to_the_librarys_first_page(owner, other, start, length):
    rnd = random.Random(3)
    for i in range(80):
        Asset.objects.create(
            owner=owner if i % 7 else other, kind=rnd.choice(["image", "video"]), source=rnd.choice(["upload", "generated"]),
            sha256=hashlib.sha256(f"fuzz-{i}".encode()).hexdigest(), filename=rnd.choice(["cat.jpg", "100%_x.png", "back\\s'l.jpg"]),
            processing_status=rnd.choice(["pending", "complete", "failed"]), is_hidden=rnd.random() < 0.3,
            created_at=start + datetime.timedelta(hours=rnd.choice([0, 0, 1, 30, 50, 100])), is_favorite=rnd.random() < 0.4,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    choices = dict(
        kind=["", "video"], source=["", "upload"], status=["", "failed"], favorites=[False, True], hidden=["", "include", "only"],
        q=["", "cat", "%_", "\\s'"],
    )  # fmt: skip
    mine = Asset.objects.filter(owner=owner)
    wrong, statements = [], ""
    for values in itertools.product(*choices.values()):
        filters = _sometimes_a_range(rnd, dict(zip(choices, values)), start)
        expected = list(mine.filtered(**filters).order_by("-created_at", "-id").values_list("pk", flat=True)[:7])
        page, sql = _walked_first_page(length, lambda: Asset.objects.library_list(owner.id, filters, None, 3))
        statements += sql
        if [a.pk for a in page.items] != expected[:3] or page.has_next != (len(expected) > 3):
            wrong.append((filters, [a.pk for a in page.items], expected))
        elif page.has_next:  # the next page: one keyset query after the cursor
            second, sql = _walked_first_page(length, lambda: Asset.objects.library_list(owner.id, filters, page.next_cursor, 3))
            statements += sql
            if [a.pk for a in second.items] != expected[3:6] or second.has_next != (len(expected) > 6) or not second.has_previous:
                wrong.append((filters, "second page", [a.pk for a in second.items], expected))
    assert not wrong, wrong[:3]
    assert "WITH walk" in statements and "CROSS JOIN LATERAL" in statements


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
@pytest.mark.parametrize("hidden", ["", "include"])
def test_it_merges_a_range_sorted_by_cost_from_each_days_first_page(owner, other, start, hidden, zone, django_assert_max_num_queries):
    """A date range sorted by cost (and nothing else but the hidden ones) is merged from each
    day's page (jobs migration 0015's index, by UTC day): the list's first page, cost ties
    across days and the range's first and last instants included (in the current time zone),
    whatever the estimate; not with another filter, nor with hidden=only."""
    with timezone.override(zone):
        _merges_a_range_by_cost(owner, other, timezone.localtime(start), hidden, django_assert_max_num_queries)


def _four_days_of_pipelines(owner, other, start, seed):
    """(first, last day) of a range of four days from `start`'s (the current time zone's), with
    pipelines of both owners on them and around them, at their first and last instants and on
    either side, costs tied across days, some hidden, a few words in their prompts."""
    rnd = random.Random(seed)
    first, last = start.replace(hour=0, minute=0, second=0, microsecond=0), start.replace(hour=23, minute=59, second=59, microsecond=999999)
    last += datetime.timedelta(days=3)
    moments = [first, first - datetime.timedelta(microseconds=1), last, last + datetime.timedelta(microseconds=1)]
    for i in range(90):
        moment = moments[i % 8] if i % 8 < len(moments) else first + datetime.timedelta(hours=rnd.randint(-30, 24 * 5))
        make_pipeline(
            owner if i % 9 else other, created_at=moment, total_cost=Decimal(rnd.choice([0, 1, 1, 2, 3])),
            is_hidden=rnd.random() < 0.3, status=rnd.choice(["completed", "failed"]), outputs=0, steps=0,
            prompt=rnd.choice(["a cat on a boat", "dog", "100% sure_x"]),
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    return first.date(), last.date()


def _merges_a_range_by_cost(owner, other, start, hidden, django_assert_max_num_queries):
    first, last = _four_days_of_pipelines(owner, other, start, 11)
    mine, by_cost = Pipeline.objects.filter(owner=owner), Pipeline.ORDERINGS["cost"]
    for size in (3, 20, 100):
        filters = {"date_from": first, "date_to": last, "hidden": hidden}
        expected = list(mine.filtered(**filters).order_by("-total_cost", "-id").values_list("pk", flat=True))
        # The range's estimate and the owner's (the walk first: first_page()), the keys, the rows.
        with django_assert_max_num_queries(4) as captured:
            page, (total, estimate, _at_least) = Pipeline.objects.jobs_list(owner.id, filters, by_cost, None, size)
        assert any("generate_series" in q["sql"] for q in captured.captured_queries)
        assert [p.pk for p in page.items] == expected[:size] and page.has_next == (len(expected) > size)
        assert estimate == (len(expected) > size) and (estimate or total == len(expected))
    for other_filters in ({"status": "failed"}, {"hidden": "only"}):
        with django_assert_max_num_queries(5) as captured:
            Pipeline.objects.jobs_list(owner.id, {**filters, **other_filters}, by_cost, None, 3)
        assert not any("generate_series" in q["sql"] for q in captured.captured_queries)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
@pytest.mark.parametrize("length", [1, 4, 1000])
def test_it_walks_the_owners_cost_order_for_a_ranges_page_before_merging_its_days(owner, other, start, length, zone):
    """A date range sorted by cost is first walked for along the owner's pipelines by cost (the range
    tested on each), and its days merged only where that walk falls short, in the same statement: the
    first and second pages are the list's either way (cost ties across days, the range's first and
    last instants, hidden ones, another owner's), and where the walk finds its page the merge never runs."""
    with timezone.override(zone):
        first, last = _four_days_of_pipelines(owner, other, timezone.localtime(start), 11)
    mine, by_cost = Pipeline.objects.filter(owner=owner), Pipeline.ORDERINGS["cost"]
    for hidden in ("", "include"):
        filters = {"date_from": first, "date_to": last, "hidden": hidden}
        with timezone.override(zone):
            expected = list(mine.filtered(**filters).order_by("-total_cost", "-id").values_list("pk", flat=True)[:7])
            with every_first_page_walked(length) as captured:
                page, _ = Pipeline.objects.jobs_list(owner.id, filters, by_cost, None, 3)
            second, _ = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, filters, by_cost, page.next_cursor, 3))
        assert [p.pk for p in page.items] == expected[:3] and page.has_next
        assert [p.pk for p in second.items] == expected[3:6] and second.has_next == (len(expected) > 6)
        merged = next(q["sql"] for q in captured.captured_queries if "generate_series" in q["sql"])
        assert "WITH walk AS MATERIALIZED" in merged
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {merged}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        days_read = re.search(r"Function Scan on generate_series.*", plan).group(0)
        assert ("never executed" in days_read) == (length == 1000), plan


@pytest.mark.parametrize("zone, utc_days", [("UTC", 4), ("Pacific/Auckland", 5)])
@pytest.mark.parametrize("length", [1, 4, 1000])
def test_it_walks_a_short_range_with_a_word_by_cost_through_each_days_run_merged(owner, other, start, length, zone, utc_days):
    """A short range sorted by cost with a word (and no filter but the hidden ones) is walked
    through each day's run of jobs migration 0015's index (its UTC days: the range's 4 days of
    Auckland lie on 5 of them), merged: its first and second pages are the list's, cost ties
    across days and the range's first and last instants included; the walk reads the index
    in order (a Merge Append of it), sorting nothing. With another filter the range is read
    whole and sorted."""
    with timezone.override(zone):
        _walks_a_short_range_by_cost(owner, other, timezone.localtime(start), length, utc_days)


def _pages_walked_through_runs(owner, filters, length, index):
    """The walk's statement of the first page of `filters` sorted by cost, walked (`length` rows at most)
    through the runs of `index`, merged: the first and second pages are the list's, and the walk reads the
    index in order (a Merge Append of it), sorting nothing."""
    by_cost = Pipeline.ORDERINGS["cost"]
    expected = list(Pipeline.objects.filter(owner=owner).filtered(**filters).order_by("-total_cost", "-id").values_list("pk", flat=True)[:7])
    with every_first_page_walked(length) as captured:
        page, _ = Pipeline.objects.jobs_list(owner.id, filters, by_cost, None, 3)
    assert [p.pk for p in page.items] == expected[:3] and page.has_next == (len(expected) > 3), (filters, expected)
    walk = next(query["sql"] for query in captured.captured_queries if query["sql"].startswith("WITH walk"))
    with connection.cursor() as cursor:  # a few rows a run: the planner would as soon sort each
        cursor.execute("SET LOCAL enable_sort = off")
    walked = plan_by_index(walk).split("CTE readable")[0]
    with connection.cursor() as cursor:  # the planner's own choices again for the pages that follow
        cursor.execute("RESET enable_sort; RESET enable_seqscan; RESET enable_bitmapscan")
    assert "Merge Append" in walked and index in walked and "->  Sort " not in walked
    if page.has_next:
        second, _ = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, filters, by_cost, page.next_cursor, 3))
        assert [p.pk for p in second.items] == expected[3:6] and second.has_next == (len(expected) > 6)
    return walk


def _walks_a_short_range_by_cost(owner, other, start, length, utc_days):
    first, last = _four_days_of_pipelines(owner, other, start, 5)
    by_cost = Pipeline.ORDERINGS["cost"]
    for q, hidden in itertools.product(["cat", "100%", "o"], ["", "include"]):
        filters = {"date_from": first, "date_to": last, "hidden": hidden, "q": q}
        walk = _pages_walked_through_runs(owner, filters, length, "pipe_day_cost")
        assert walk.count("::date = DATE '") == utc_days
    _, sql = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, {**filters, "status": "failed"}, by_cost, None, 3))
    assert "::date = DATE '" not in sql and 'OFFSET 0) AS "jobs_pipeline" ORDER BY' in sql


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
@pytest.mark.parametrize("length", [1, 4, 1000])
def test_it_walks_a_longer_range_with_a_word_by_cost_through_each_months_run_merged(owner, other, length, zone):
    """A range of more than WALKED_DAYS sorted by cost with a word (and no filter but the hidden ones), in up
    to WALKED_MONTHS months, is walked through each UTC month's run of jobs migration 0034's index, merged:
    its first and second pages are the list's, cost ties across months and the range's first and last
    instants included; the walk reads the index in order (a Merge Append of it), sorting nothing. A range in
    more months walks the owner's cost order."""
    rnd = random.Random(13)
    with timezone.override(zone):
        first = timezone.make_aware(datetime.datetime(2025, 6, 20))
        last = timezone.make_aware(datetime.datetime(2025, 7, 29, 23, 59, 59, 999999))
        moments = [first, first - datetime.timedelta(microseconds=1), last, last + datetime.timedelta(microseconds=1)]
        for i in range(90):
            moment = moments[i % 8] if i % 8 < len(moments) else first + datetime.timedelta(hours=rnd.randint(-30, 24 * 42))
            make_pipeline(
                owner if i % 9 else other, created_at=moment, total_cost=Decimal(rnd.choice([0, 1, 1, 2, 3])),
                is_hidden=rnd.random() < 0.3, outputs=0, steps=0, prompt=rnd.choice(["a cat on a boat", "dog", "100% sure_x"]),
            )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_pipeline")
        by_cost = Pipeline.ORDERINGS["cost"]
        for q, hidden in itertools.product(["cat", "100%", "o"], ["", "include"]):
            filters = {"date_from": first.date(), "date_to": last.date(), "hidden": hidden, "q": q}
            walk = _pages_walked_through_runs(owner, filters, length, "pipe_month_cost")
            assert walk.count("date_trunc('month', ") == 2 and "::date = DATE '" not in walk
        longer = {**filters, "date_from": (first - datetime.timedelta(days=62)).date()}
        _, sql = _walked_first_page(length, lambda: Pipeline.objects.jobs_list(owner.id, longer, by_cost, None, 3))
        assert "date_trunc('month', " not in sql and "::date = DATE '" not in sql
