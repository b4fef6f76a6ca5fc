"""A pipeline's step_count and output_count, kept by the database's triggers (jobs migration 0019)
for every writer: the ORM one row at a time, bulk inserts, deletes, cascades."""

import importlib
from types import SimpleNamespace

from django.db import connection
from django.db.models import Count

from conftest import make_asset, make_pipeline
from jobs.models import Output, Pipeline, Step

def _counts(pipeline):
    return tuple(Pipeline.objects.filter(pk=pipeline.pk).values_list("step_count", "output_count").get())


def _actual(pipeline):
    return pipeline.steps.count(), pipeline.outputs.count()


def test_it_counts_what_is_made_one_row_at_a_time(owner):
    pipeline = make_pipeline(owner, steps=3, outputs=4)
    assert _counts(pipeline) == _actual(pipeline) == (3, 4)
    assert (pipeline.step_count, pipeline.output_count) == (3, 4)


def test_it_counts_rows_inserted_and_deleted_in_bulk(owner):
    pipeline, other = make_pipeline(owner, steps=1, outputs=0), make_pipeline(owner, steps=2, outputs=1)
    steps = Step.objects.bulk_create(
        Step(owner=owner, pipeline=p, kind="i2i", order=10 + n, config={}) for n in range(5) for p in (pipeline, other)
    )
    asset = make_asset(owner)
    Output.objects.bulk_create(Output(owner=owner, pipeline=s.pipeline, step=s, asset=asset, position=10 + n) for n, s in enumerate(steps))
    assert _counts(pipeline) == _actual(pipeline) == (6, 5)
    assert _counts(other) == _actual(other) == (7, 6)
    Output.objects.filter(pipeline=other, position__gte=12).delete()
    Step.objects.filter(pipeline=pipeline, order__gte=12).delete()  # cascades to their outputs
    assert _counts(pipeline) == _actual(pipeline) == (3, 2)
    assert _counts(other) == _actual(other) == (7, 2)


def test_it_leaves_other_pipelines_alone_when_one_is_deleted(owner):
    gone, kept = make_pipeline(owner, steps=2, outputs=2), make_pipeline(owner, steps=1, outputs=1)
    gone.delete()
    assert _counts(kept) == (1, 1)


def test_it_backfills_the_counts_of_pipelines_made_before_the_triggers(owner):
    counts = importlib.import_module("jobs.migrations.0019_pipeline_counts")
    made = [make_pipeline(owner, steps=n + 1, outputs=n) for n in range(3)]
    Pipeline.objects.update(step_count=0, output_count=7)
    counts.backfill(None, SimpleNamespace(connection=connection))  # what it uses of a schema editor
    expected = {p.pk: (p.n_steps, p.n_outputs) for p in Pipeline.objects.annotate(n_steps=Count("steps", distinct=True), n_outputs=Count("outputs", distinct=True))}
    assert {p.pk: _counts(p) for p in made} == expected == {p.pk: (n + 1, n) for n, p in enumerate(made)}


def test_it_keeps_the_counts_when_a_row_read_before_its_steps_is_saved_whole(owner):
    pipeline = make_pipeline(owner, steps=1, outputs=1)
    stale = Pipeline.objects.get(pk=pipeline.pk)
    Step.objects.create(owner=owner, pipeline=pipeline, kind="i2i", order=5, config={})
    stale.name = "renamed"
    stale.save()
    assert _counts(pipeline) == (2, 1)
    assert Pipeline.objects.get(pk=pipeline.pk).name == "renamed"
