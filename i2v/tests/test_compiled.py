import datetime

from django.utils import timezone

from conftest import make_pipeline
from i2v.lib import compiled
from jobs.listing import PipelineListQuerySet
from jobs.models import Pipeline

NEWEST = Pipeline.ORDERINGS["newest"]
COST = Pipeline.ORDERINGS["cost"]


def _made(owner, n=4):
    start = timezone.now()
    return [make_pipeline(owner, created_at=start + datetime.timedelta(seconds=i), tags=["4k"] if i % 2 else ()) for i in range(n)]


def test_it_loads_the_rows_the_queryset_would_in_the_order_asked(owner, django_assert_num_queries):
    made = _made(owner)
    keys = [made[0].id, made[3].id, made[2].id]
    with django_assert_num_queries(1):
        rows = compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, keys, "default")
    expected = list(Pipeline.objects.for_jobs_page().filter(pk__in=keys).order_by(*NEWEST.order_by()))
    assert [r.id for r in rows] == [made[3].id, made[2].id, made[0].id] == [e.id for e in expected]
    for row, want in zip(rows, expected):
        # Annotations as the queryset gives them: converted from the database's values (the cover's JSON a dict).
        for name in ("step_count", "output_count", "tag_data", "cover_renditions", "cover_kind"):
            assert getattr(row, name) == getattr(want, name), name
        assert isinstance(row.cover_renditions, dict) and row.cover == want.cover
        assert row.get_deferred_fields() == want.get_deferred_fields()


def test_it_compiles_once_per_number_of_keys(owner):
    made = _made(owner, 5)
    compiled._compile.cache_clear()
    load = lambda keys, ordering=NEWEST: [r.id for r in compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, ordering, keys, "default")]  # noqa: E731
    assert load([made[0].id, made[1].id]) == [made[1].id, made[0].id]
    assert load([made[3].id, made[4].id]) == [made[4].id, made[3].id]  # the same SQL, other keys
    assert load([made[2].id]) == [made[2].id]
    assert load([made[2].id, made[4].id], COST) == [made[4].id, made[2].id]  # same cost: by id, descending
    info = compiled._compile.cache_info()
    assert (info.misses, info.hits) == (3, 1)


def test_it_skips_keys_gone_and_asks_nothing_for_none(owner, django_assert_num_queries):
    made = _made(owner, 2)
    assert [r.id for r in compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, [made[0].id, 10**12], "default")] == [made[0].id]
    with django_assert_num_queries(0):
        assert compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, [], "default") == []
