"""Each tag link's copy of its pipeline's created_at and total cost (and on PostgreSQL its text
signature), kept by the database's triggers (jobs migrations 0027 and 0035) for every writer: the
ORM, bulk inserts, a created_at moved, a cost or a text changed; and the order in which what writes
a pipeline and its links takes their rows."""

import datetime
import importlib
import threading
from decimal import Decimal
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from conftest import make_pipeline, wait_for_a_lock_wait
from i2v.lib.migrations import SEARCH_SIGNATURE
from jobs.models import Pipeline, PipelineTag, Tag

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's columns and row locks")


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


def _costs(*pipelines):
    return sorted(PipelineTag.objects.filter(pipeline__in=pipelines).values_list("pipeline_id", "total_cost"))


def _signatures(table, key, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(SEARCH_SIGNATURE)} FROM {table} WHERE {key} = %s", [pk])
        return cursor.fetchall()


def test_it_copies_the_cost_of_a_pipeline_tagged_one_link_at_a_time_and_in_bulk(owner):
    pipeline = make_pipeline(owner, tags=["4k", "hero"], total_cost=Decimal("12.3400"), outputs=0, steps=0)
    cheap = make_pipeline(owner, total_cost=Decimal("0.0100"), outputs=0, steps=0)
    Pipeline.objects.filter(pk__in=[pipeline.pk, cheap.pk]).apply_bulk("tag", owner, "batch")
    assert _costs(pipeline, cheap) == sorted([(pipeline.pk, Decimal("12.3400"))] * 3 + [(cheap.pk, Decimal("0.0100"))])


def test_it_moves_the_links_with_their_pipelines_cost(owner, other):
    pipeline = make_pipeline(owner, tags=["4k", "hero"], total_cost=Decimal("1"), outputs=0, steps=0)
    untouched = make_pipeline(other, tags=["4k"], total_cost=Decimal("1"), outputs=0, steps=0)
    pipeline.total_cost = Decimal("7.5000")
    pipeline.save(update_fields=["total_cost"])  # as refresh() writes it when a step completes
    assert _costs(pipeline, untouched) == sorted([(pipeline.pk, Decimal("7.5000"))] * 2 + [(untouched.pk, Decimal("1"))])
    Pipeline.objects.filter(pk=pipeline.pk).update(is_favorite=True)  # nothing the links hold
    assert _costs(pipeline) == [(pipeline.pk, Decimal("7.5000"))] * 2


@postgresql_only
def test_it_copies_the_text_signature_and_moves_it_with_the_text(owner):
    pipeline = make_pipeline(owner, tags=["4k"], prompt="a neon portrait", outputs=0, steps=0)
    assert _signatures("jobs_pipelinetag", "pipeline_id", pipeline.pk) == _signatures("jobs_pipeline", "id", pipeline.pk)
    before = _signatures("jobs_pipeline", "id", pipeline.pk)
    pipeline.rename("A sailboat at dusk")  # the text changes: its signature, written by the pipeline's own trigger
    after = _signatures("jobs_pipeline", "id", pipeline.pk)
    assert after != before and _signatures("jobs_pipelinetag", "pipeline_id", pipeline.pk) == after


def test_it_backfills_the_links_costs_made_before_the_triggers(owner, other):
    links = importlib.import_module("jobs.migrations.0035_tag_links_by_cost")
    made = [make_pipeline(user, tags=["4k", "draft"][: n + 1], total_cost=Decimal(n + 2), outputs=0, steps=0)
            for n, user in enumerate([owner, other, owner])]  # fmt: skip
    PipelineTag.objects.update(total_cost=None)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE jobs_pipelinetag SET {' = NULL, '.join(SEARCH_SIGNATURE)} = NULL")
    links.backfill(None, SimpleNamespace(connection=connection))  # what it uses of a schema editor
    assert _costs(*made) == sorted(link for p in made for link in [(p.pk, p.total_cost)] * p.tags.count())
    if connection.vendor == "postgresql":
        for p in made:
            assert set(_signatures("jobs_pipelinetag", "pipeline_id", p.pk)) == set(_signatures("jobs_pipeline", "id", p.pk))


def _in_a_thread(work):
    """Start `work()` in a thread of its own (its own connection); its outcome, or the error it raised, in the list."""
    outcome = []

    def run():
        try:
            outcome.append(work())
        except Exception as error:
            outcome.append(repr(error))
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("untag", ["remove_tag", "apply_bulk"])
def test_it_takes_the_pipeline_before_its_links_wherever_they_change(owner, untag):
    """A step completing updates its pipeline's cost, holding the pipeline's row, and then its links (another
    connection here, as refresh() does, through the trigger). Untagging (or tagging) meanwhile waits for the
    pipeline's row before it touches a link: had it taken the link first, then the pipeline's tag names, each
    would wait for the other, and PostgreSQL would fail one of them (a deadlock)."""
    pipeline = make_pipeline(owner, tags=["4k"], total_cost=Decimal("1"), outputs=0, steps=0)
    tag = Tag.objects.get(owner=owner, name="4k")
    params = connection.get_connection_params()
    with psycopg.connect(**params) as completing:
        completing.execute("SET lock_timeout = '5s'")
        completing.execute("SELECT 1 FROM jobs_pipeline WHERE id = %s FOR NO KEY UPDATE", [pipeline.pk])
        if untag == "remove_tag":
            thread, outcome = _in_a_thread(lambda: pipeline.remove_tag(tag.pk))
        else:
            thread, outcome = _in_a_thread(lambda: Pipeline.objects.filter(pk=pipeline.pk).apply_bulk("tag", owner, "more"))
        wait_for_a_lock_wait(params)
        completing.execute("UPDATE jobs_pipeline SET total_cost = 9 WHERE id = %s", [pipeline.pk])  # its links too
        completing.commit()
        thread.join(30)
    assert outcome in ([None], [[]]), outcome
    expected = [(pipeline.pk, Decimal("9.0000"))] * (0 if untag == "remove_tag" else 2)
    assert _costs(pipeline) == expected  # the link inserted after the cost's update has the new cost
