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

from conftest import every_first_page_walked, make_pipeline
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
def test_it_walks_to_the_jobs_lists_first_page(owner, other, start, sort, length):
    rnd = random.Random(7)
    for i in range(70):
        make_pipeline(
            owner if i % 9 else other, name=rnd.choice(["Alpha", "alpha", "Beta", "beta", "Zed"]),
            created_at=start + datetime.timedelta(hours=rnd.choice([0, 0, 1, 2, 30, 50, 100, 200])),
            status=rnd.choice(["completed", "failed", "running", "pending"]), model=rnd.choice(["flux-kontext", "seedream-4"]),
            total_cost=Decimal(rnd.choice([0, 1, 1, 2])), is_favorite=rnd.random() < 0.4, is_hidden=rnd.random() < 0.3,
            outputs=0, steps=0, prompt=rnd.choice(PROMPTS), tags=rnd.sample(["keep", "4k", "x"], rnd.randint(0, 2)),
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    choices = dict(
        status=["", "failed"], model=["", "seedream-4"], favorites=[False, True], hidden=["", "include", "only"],
        tag=["", "keep"], q=["", "cat", "100%", "_x", "\\sl", "'q'"],
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
            created_at=start + datetime.timedelta(hours=rnd.choice([0, 0, 1, 30, 50, 100])),
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE library_asset")
    choices = dict(kind=["", "video"], source=["", "upload"], status=["", "failed"], hidden=["", "include", "only"], q=["", "cat", "%_", "\\s'"])
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


@pytest.mark.parametrize("hidden", ["", "include"])
def test_it_merges_a_range_sorted_by_cost_from_each_days_first_page(owner, other, start, hidden, django_assert_max_num_queries):
    """A date range sorted by cost (and nothing else but the hidden ones) is merged from each
    day's page (jobs migration 0015's index): the list's first page, cost ties across days and
    the range's first and last instants included, whatever the estimate; not with another
    filter, nor with hidden=only."""
    rnd = random.Random(11)
    first, last = start.replace(hour=0, minute=0, second=0, microsecond=0), start.replace(hour=23, minute=59, second=59, microsecond=999999)
    moments = [first, first - datetime.timedelta(microseconds=1), last + datetime.timedelta(days=3), last + datetime.timedelta(days=3, microseconds=1)]
    for i in range(90):
        moment = moments[i] if i < len(moments) else first + datetime.timedelta(hours=rnd.randint(0, 24 * 5))
        make_pipeline(
            owner if i % 8 else other, created_at=moment, total_cost=Decimal(rnd.choice([0, 1, 1, 2, 3])),
            is_hidden=rnd.random() < 0.3, status=rnd.choice(["completed", "failed"]), outputs=0, steps=0,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_pipeline")
    mine, by_cost = Pipeline.objects.filter(owner=owner), Pipeline.ORDERINGS["cost"]
    for size in (3, 20, 100):
        filters = {"date_from": first.date(), "date_to": (last + datetime.timedelta(days=3)).date(), "hidden": hidden}
        expected = list(mine.filtered(**filters).order_by("-total_cost", "-id").values_list("pk", flat=True))
        with django_assert_max_num_queries(3) as captured:
            page, (total, estimate, _at_least) = Pipeline.objects.jobs_list(owner.id, filters, by_cost, None, size)
        assert any("generate_series" in q["sql"] for q in captured.captured_queries)
        assert [p.pk for p in page.items] == expected[:size] and page.has_next == (len(expected) > size)
        assert estimate == (len(expected) > size) and (estimate or total == len(expected))
    for other_filters in ({"status": "failed"}, {"hidden": "only"}):
        with django_assert_max_num_queries(5) as captured:
            Pipeline.objects.jobs_list(owner.id, {**filters, **other_filters}, by_cost, None, 3)
        assert not any("generate_series" in q["sql"] for q in captured.captured_queries)
