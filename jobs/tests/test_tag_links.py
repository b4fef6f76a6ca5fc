"""Each tag link's copy of its pipeline's created_at, kept by the database's triggers (jobs
migration 0027) for every writer: the ORM, bulk inserts, a created_at moved."""

import datetime
import importlib
from types import SimpleNamespace

from django.db import connection
from django.utils import timezone

from conftest import make_pipeline
from jobs.models import Pipeline, PipelineTag, Tag


def _links(*pipelines):
    rows = PipelineTag.objects.filter(pipeline__in=pipelines).values_list("pipeline_id", "created_at")
    return sorted(rows)


def _created(*pipelines):
    return sorted(Pipeline.objects.filter(pk__in=[p.pk for p in pipelines]).values_list("pk", "created_at"))


def test_it_copies_the_created_at_of_a_pipeline_tagged_one_link_at_a_time(owner):
    made = timezone.now() - datetime.timedelta(days=400, microseconds=7)
    pipeline = make_pipeline(owner, tags=["4k", "hero"], created_at=made, outputs=0, steps=0)
    assert _links(pipeline) == [(pipeline.pk, made)] * 2


def test_it_copies_it_to_links_inserted_in_bulk(owner):
    older, newer = (make_pipeline(owner, created_at=timezone.now() - datetime.timedelta(hours=h), outputs=0, steps=0) for h in (5, 1))
    Pipeline.objects.filter(pk__in=[older.pk, newer.pk]).apply_bulk("tag", owner, "batch")
    PipelineTag.objects.bulk_create([PipelineTag(pipeline=older, tag=Tag.objects.for_name(owner.id, "more"))])
    assert _links(older, newer) == sorted([*_created(older, newer), *_created(older)])


def test_it_moves_the_links_with_their_pipelines_created_at(owner, other):
    pipeline = make_pipeline(owner, tags=["4k", "hero"], outputs=0, steps=0)
    untouched = make_pipeline(other, tags=["4k"], outputs=0, steps=0)
    moved = timezone.now() - datetime.timedelta(days=3)
    Pipeline.objects.filter(pk=pipeline.pk).update(created_at=moved)
    assert _links(pipeline) == [(pipeline.pk, moved)] * 2
    pipeline.refresh_from_db()
    pipeline.save()  # every column written, created_at unchanged
    assert _links(pipeline) == [(pipeline.pk, moved)] * 2
    assert _links(untouched) == _created(untouched)


def test_it_backfills_the_links_made_before_the_triggers(owner, other):
    links = importlib.import_module("jobs.migrations.0027_tag_links_in_order")
    made = [make_pipeline(user, tags=["4k", "draft"][: n + 1], created_at=timezone.now() - datetime.timedelta(days=n), outputs=0, steps=0)
            for n, user in enumerate([owner, other, owner])]  # fmt: skip
    PipelineTag.objects.update(created_at=None)
    links.backfill(None, SimpleNamespace(connection=connection))  # what it uses of a schema editor
    assert _links(*made) == sorted(link for p in made for link in [(p.pk, p.created_at)] * p.tags.count())
    assert not PipelineTag.objects.filter(created_at=None).exists()
