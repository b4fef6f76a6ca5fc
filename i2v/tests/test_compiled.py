import datetime

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from conftest import make_asset, make_pipeline
from i2v.lib import compiled
from jobs.listing import PipelineListQuerySet
from jobs.detail import STEP_ORDERING, STEP_ROWS
from jobs.models import Output, Pipeline, Step
from library.models import Asset, AssetQuerySet

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
        _assert_same_instance(row, want)


def _assert_same_instance(row, want):
    """`row` is what the queryset gave as `want`: the same attributes, values, types and
    deferred fields, and a saved row's state."""
    fields = {k: v for k, v in vars(want).items() if k != "_state"}
    assert {k: v for k, v in vars(row).items() if k != "_state"} == fields
    assert {k: type(v) for k, v in vars(row).items() if k != "_state"} == {k: type(v) for k, v in fields.items()}
    assert row.get_deferred_fields() == want.get_deferred_fields()
    assert (row._state.adding, row._state.db) == (False, want._state.db)


def test_it_loads_library_rows_as_the_queryset_does(owner):
    made = [make_asset(owner), make_asset(owner, kind="video", renditions=False)]
    made[1].last_error, made[1].processing_status, made[1].is_favorite = "<b>broke</b>", "failed", True
    made[1].save()
    rows = compiled.rows_by_keys(Asset, AssetQuerySet.for_library, Asset.ORDERING, [a.id for a in made], "default")
    expected = list(Asset.objects.for_library().filter(pk__in=[a.id for a in made]).order_by(*Asset.ORDERING.order_by()))
    assert [r.id for r in rows] == [made[1].id, made[0].id]
    for row, want in zip(rows, expected):
        _assert_same_instance(row, want)
        assert row.original_url == want.original_url and row.srcset == want.srcset and row.as_list_item() == want.as_list_item()
    assert isinstance(rows[1].renditions, dict) and rows[1].renditions["300"]["w"] == 300
    # A deferred field is still read on demand, and a row saves as a loaded one does.
    assert rows[0].prompt == made[1].prompt
    rows[0].toggle("is_hidden")
    assert Asset.objects.get(pk=made[1].id).is_hidden


@pytest.mark.parametrize(
    "renditions",
    [
        {"300": {"name": "x.jpg", "w": 2**64, "h": -(2**63) - 1}},  # past 64 bits: orjson would make floats of them
        {"300": {"w": 9_223_372_036_854_775_807, "h": 0.1, "r": 1.7976931348623157e308, "z": -0.0}},
        {"note": "café 🎞 <b>", "deep": [[[[{"a": None, "b": True}]]]], "": []},
    ],
)  # fmt: skip
def test_it_reads_json_columns_as_the_queryset_does(owner, renditions):
    a = make_asset(owner)
    Asset.objects.filter(pk=a.pk).update(renditions=renditions)
    row = compiled.rows_by_keys(Asset, AssetQuerySet.for_library, None, [a.id], "default")[0]
    want = Asset.objects.for_library().get(pk=a.pk).renditions
    # PostgreSQL keeps numbers as numerics: 1.7976931348623157e308 comes back as 309 digits, an integer.
    assert row.renditions == want and (want == renditions or connection.vendor == "postgresql")
    assert [type(v) for v in _leaves(row.renditions)] == [type(v) for v in _leaves(want)]


def _leaves(value):
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("model", [Pipeline, Asset, Step, Output])
def test_it_skips_init_signals_no_receiver_of_which_concerns_these_models(model):
    # rows_by_keys() makes instances without Model.__init__(), so without pre_init and
    # post_init. Only django-imagekit's router listens (to every model; it records the
    # files of ImageSpecFields, which these models lack). A receiver added for one of these
    # models would be skipped on its list rows: load those rows through the queryset instead.
    for signal in (pre_init, post_init):
        receivers = [r for r in signal._live_receivers(model)[0] if type(getattr(r, "__self__", None)).__module__ != "imagekit.specs.sourcegroups"]
        assert receivers == [], (signal, receivers)
    assert not any(f.__class__.__name__ == "ImageSpecField" for f in model._meta.get_fields())


def test_it_compiles_once_per_order_and_number_of_keys(owner):
    made = _made(owner, 5)
    compiled._compile.cache_clear()
    load = lambda keys, ordering=NEWEST: [r.id for r in compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, ordering, keys, "default")]  # noqa: E731
    assert load([made[0].id, made[1].id]) == [made[1].id, made[0].id]
    assert load([made[3].id, made[4].id]) == [made[4].id, made[3].id]  # the same SQL, other keys
    assert load([made[2].id]) == [made[2].id]
    assert load([made[2].id, made[4].id], COST) == [made[4].id, made[2].id]  # same cost: by id, descending
    assert load([made[0].id, made[2].id, made[4].id]) == [made[4].id, made[2].id, made[0].id]
    info = compiled._compile.cache_info()
    # PostgreSQL takes two keys or more as one array, whatever their number: once per order, and once for one key.
    assert (info.misses, info.hits) == ((3, 2) if connection.vendor == "postgresql" else (4, 1))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no arrays: the keys are an IN list")
def test_it_passes_the_keys_as_one_array_on_postgresql(owner, django_assert_num_queries):
    made = _made(owner, 3)
    with django_assert_num_queries(1) as ran:
        rows = compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, [m.id for m in made], "default")
    assert [r.id for r in rows] == [m.id for m in reversed(made)]
    sql = ran.captured_queries[0]["sql"]
    assert " = ANY(" in sql and " IN (" not in sql.split(" = ANY(")[0][-40:]


def test_it_reads_one_key_in_the_order_of_an_index(owner):
    # `= ANY(array)` makes PostgreSQL sort every row of the key before a limit; one key is an equality.
    pipeline = make_pipeline(owner, steps=30, outputs=0)
    with CaptureQueriesContext(connection) as ran:
        found = compiled.rows_by_keys(Step, STEP_ROWS[""], STEP_ORDERING, [pipeline.id], "default", by="pipeline", limit=5)
    assert [s.order for s in found] == [0, 1, 2, 3, 4]
    assert "ANY(" not in ran.captured_queries[0]["sql"]


def test_it_skips_keys_gone_and_asks_nothing_for_none(owner, django_assert_num_queries):
    made = _made(owner, 2)
    assert [r.id for r in compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, [made[0].id, 10**12], "default")] == [made[0].id]
    with django_assert_num_queries(0):
        assert compiled.rows_by_keys(Pipeline, PipelineListQuerySet.for_jobs_page, NEWEST, [], "default") == []


def test_it_loads_the_first_rows_of_a_field_as_the_queryset_does(owner, django_assert_num_queries):
    # A pipeline's steps, as paginate_by() reads a detail's first page: by the pipeline, in order, limited.
    wanted, other = make_pipeline(owner, steps=5, outputs=0), make_pipeline(owner, steps=3, outputs=0)
    Step.objects.filter(pipeline=wanted, order=1).update(status=Step.Status.FAILED)
    for status in ("", "problems", "failed", "completed"):
        rows = STEP_ROWS[status]
        expected = list(rows(wanted.steps.all()).order_by(*STEP_ORDERING.order_by())[:3])
        with django_assert_num_queries(1):
            found = compiled.rows_by_keys(Step, rows, STEP_ORDERING, [wanted.id], "default", by="pipeline", limit=3)
        assert [r.id for r in found] == [e.id for e in expected] and all(r.pipeline_id == wanted.id for r in found)
        for row, want in zip(found, expected):
            _assert_same_instance(row, want)
    assert len(compiled.rows_by_keys(Step, STEP_ROWS[""], STEP_ORDERING, [wanted.id, other.id], "default", by="pipeline")) == 8
    # No ordering: the rows of the keys, in whatever order the database gives them.
    found = compiled.rows_by_keys(Pipeline, PipelineListQuerySet.with_tags, None, [other.id, wanted.id], "default")
    assert sorted(r.id for r in found) == sorted([wanted.id, other.id])


def test_it_loads_values_grouped_as_the_queryset_does(owner, django_assert_num_queries):
    # A detail's step summary: the steps of one pipeline counted by kind and status.
    wanted, other = make_pipeline(owner, steps=5, outputs=0), make_pipeline(owner, steps=3, outputs=0)
    Step.objects.filter(pipeline=wanted, order__lt=2).update(status=Step.Status.FAILED)
    counted = lambda steps: steps.order_by().values_list("kind", "status").annotate(n=Count("id"))  # noqa: E731
    with django_assert_num_queries(1):
        found = compiled.values_by_keys(Step, counted, [wanted.id], "default", by="pipeline")
    assert sorted(found) == sorted(counted(wanted.steps.all())) and sum(n for _, _, n in found) == 5
    assert ("i2i", "failed", 2) in found
    assert sum(n for _, _, n in compiled.values_by_keys(Step, counted, [wanted.id, other.id], "default", by="pipeline")) == 8
    with pytest.raises(ValueError, match="values_by_keys"):
        compiled.rows_by_keys(Step, counted, None, [wanted.id], "default", by="pipeline")


def test_it_finds_a_statements_converters_once_per_connection(owner, monkeypatch):
    made = [make_asset(owner), make_asset(owner)]
    connections["default"].__dict__.pop("_i2v_converters", None)  # the thread's wrapper, not the proxy
    asked = []
    found = compiled._converters
    monkeypatch.setattr(compiled, "_converters", lambda e, c: asked.append(e) or found(e, c))
    for _ in range(3):
        rows = compiled.rows_by_keys(Asset, AssetQuerySet.for_library, Asset.ORDERING, [a.id for a in made], "default")
        assert isinstance(rows[0].renditions, dict) and rows[0].renditions["300"]["w"] == 300
    assert len(asked) == len(Asset.LIST_FIELDS)  # each column's once, not each time
