"""Fixtures shared by every app's tests: an owner and another user, and factories
that build pipelines with steps, outputs and assets the way the app does."""

import contextlib
import hashlib
import itertools
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from i2v.lib import pagination
from jobs.models import Output, Pipeline, Step
from library.media import original_name, rendition_name
from library.models import Asset

# The Chromium fixtures (`browser`, `owner_page`) live in one place and are
# registered once, so every browser test module shares one session browser;
# `remote_server` (a loopback HTTP server) serves the download tests of two apps.
pytest_plugins = ["i2v.testing.browser", "library.tests.remote_server"]

_counter = itertools.count(1)
_run = uuid.uuid4().hex  # this process's


def first_page_queries(estimated=False):
    """Queries for the first page of a small list: the keys (with their count on
    PostgreSQL, and on PostgreSQL first the planner's estimate that decides how they are
    found, unless this process `estimated` the same filters in the last minute), then the
    rows by key (i2v/lib/pagination.py first_page). SQLite counts in a query of its own
    only past 1,000; PostgreSQL estimates once more where a walk is weighed, a word is
    searched in a date range, or a kind, source or status beside a word in the Library.
    (The session's user comes from the cache, i2v/lib/auth.py: warmed at login.)"""
    from django.db import connection

    return 3 if connection.vendor == "postgresql" and not estimated else 2


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    # Media in a per-test folder, a clean cache, and the list cache on (tests use
    # the local-memory cache, which is shared within the one test process).
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SENDFILE_ROOT = str(settings.MEDIA_ROOT)  # django-sendfile2 serves files from under it only
    # Tests don't run collectstatic, so no manifest of hashed names exists.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.LIST_CACHE = True
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # Tasks run here inside the test's transaction, which the lease keeper's own
    # connection could not see (the real-worker tests run it, in their workers).
    settings.WORK_LEASE_KEEPER = False
    cache.clear()
    pagination._estimates.clear()  # the planner's estimates this process reuses, of another test's rows
    yield
    cache.clear()


@pytest.fixture
def provider_keys(settings):
    """Every hosted provider given a key (no test sends it anywhere but a fake on loopback), so their
    models can be planned: without one the New pipeline form refuses them."""
    for setting in ("FAL_KEY", "REPLICATE_API_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        setattr(settings, setting, f"test-{setting.lower()}")


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def other(db):
    return get_user_model().objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def make_asset(user, kind="image", renditions=True):
    """An asset whose files are only named (in its owner's folder, as the app names them), not stored."""
    n = next(_counter)
    # This process's number alone would repeat another's: benches (bench/) make assets this way
    # in several processes over one database, where (owner, sha256) is unique.
    sha = hashlib.sha256(f"asset-{n}-{_run}".encode()).hexdigest()
    sizes = {}
    if renditions:
        sizes = {
            str(s): {"name": rendition_name(user.id, sha, hashlib.sha256(f"{sha}{s}".encode()).hexdigest(), "jpg"), "w": s, "h": s * 3 // 4}
            for s in (150, 300, 600)
        }  # fmt: skip
    return Asset.objects.create(
        owner=user, kind=kind, source="generated", sha256=sha, original=original_name(user.id, sha, "jpg"),
        filename=f"out-{n}.jpg", width=1024, height=768, renditions=sizes, processing_status="complete",
    )  # fmt: skip


def make_pipeline(user, name=None, outputs=2, steps=1, tags=(), created_at=None, **fields):
    n = next(_counter)
    name = name or f"Pipeline {n}"
    prompt = fields.pop("prompt", f"a prompt number {n}")
    pipeline = Pipeline(
        owner=user, name=name, model=fields.pop("model", "flux-kontext"), first_prompt=prompt,
        total_cost=fields.pop("total_cost", Decimal("1.25")), created_at=created_at or timezone.now(), **fields,
    )  # fmt: skip
    pipeline.set_search_text([prompt])
    pipeline.save()
    made = [
        Step.objects.create(owner=user, pipeline=pipeline, kind="i2i", order=i, config={"model": pipeline.model, "prompt": prompt})
        for i in range(steps)
    ]
    for position in range(outputs):
        Output.objects.create(owner=user, pipeline=pipeline, step=made[0], asset=make_asset(user), position=position)
    for tag in tags:
        pipeline.add_tag(tag)
    pipeline.refresh_from_db(fields=["step_count", "output_count"])  # the database's triggers counted them
    return pipeline


def make_big_pipeline(user, images=1000, videos=1000, failed=20, outputs=60, name=None):
    """A pipeline of `images` image steps (completed) and `videos` video steps, the last
    `failed` of them failed, with `outputs` outputs: steps by bulk insert, so 2,000 take a moment."""
    pipeline = make_pipeline(user, name=name, outputs=0, steps=0)
    prompt = pipeline.first_prompt
    kinds = ["i2i"] * images + ["i2v"] * videos
    steps = Step.objects.bulk_create(
        Step(
            owner=user, pipeline=pipeline, kind=kind, order=order, config={"model": pipeline.model, "prompt": f"{prompt} {order}"},
            status="failed" if order >= len(kinds) - failed else "completed", error="The provider said no." if order >= len(kinds) - failed else "",
        )  # fmt: skip
        for order, kind in enumerate(kinds)
    )
    assets = [make_asset(user) for _ in range(min(outputs, 10))]
    Output.objects.bulk_create(
        Output(owner=user, pipeline=pipeline, step=steps[n], asset=assets[n % len(assets)], position=n) for n in range(outputs)
    )
    Pipeline.objects.filter(pk=pipeline.pk).update(planned_steps=len(kinds), progress_done=len(kinds) - failed, status="failed")
    pipeline.refresh_from_db()
    return pipeline


@pytest.fixture
def pipeline_factory(db):
    return make_pipeline


@contextlib.contextmanager
def every_first_page_walked(length=1000):
    """Every list's first page found by a bounded walk (PostgreSQL) of `length` rows at most,
    whatever the planner estimates; yields the CaptureQueriesContext of what runs inside."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with pytest.MonkeyPatch.context() as patched, CaptureQueriesContext(connection) as captured:
        patched.setattr(pagination, "planner_estimate", lambda queryset, reuse=False: (5000, 1.0))
        patched.setattr(pagination, "_walk_length", lambda *args: length)
        yield captured


def plan_by_index(sql, bitmap=False):
    """PostgreSQL's plan of `sql` (EXPLAIN, as text) with reading the table whole or by bitmap
    turned off, for this transaction: a test's tables are small enough that the planner would
    rather read them than use the index a plan test looks for, and its rows, never vacuumed in a
    test's transaction, are not known all-visible. `bitmap`: bitmap scans stay on (the only way
    a GIN index is read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        if not bitmap:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def drop_btree_indexes(table, keep=()):
    """Drops every index of `table` but its primary key, its GIN indexes and those named in `keep` (and its unique
    constraints), for this test's transaction only: at a few dozen rows the planner would
    rather read a btree index by owner than any text index, and a plan test asks which text
    index it picks. The deferred foreign keys' checks are made first (an ALTER TABLE can't
    leave them pending)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'", [table])
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        cursor.execute(
            "SELECT i.indexname FROM pg_indexes i WHERE i.tablename = %s AND i.indexdef NOT LIKE '%%USING gin%%'"
            " AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')",
            [table],
        )
        for (name,) in cursor.fetchall():
            if name not in keep:
                cursor.execute(f"DROP INDEX {name}")


def text_index_plan(client, url, table):
    """(the response to an HTMX GET of `url`, the plan of the statement of it that reads the text
    column): `table` analyzed first, its plan asked with only its GIN indexes and primary key left
    (drop_btree_indexes()), bitmap scans on: which text index the planner reads the word in."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_HX_REQUEST="true")
    statement = next(q["sql"] for q in captured.captured_queries if not q["sql"].startswith("EXPLAIN") and "search_text" in q["sql"])
    drop_btree_indexes(table)
    # The earlier tests' rows, rolled back, left entries in the pending lists: a small partial
    # index's list can make it look dearer than the big one.
    merge_gin_pending_lists(table)
    return response, plan_by_index(statement, bitmap=True)


def merge_gin_pending_lists(table):
    """Merges the pending lists of `table`'s GIN indexes into their trees: a GIN index takes new
    entries into a list that only a vacuum merges, whose entries are offered more loosely and which
    the planner prices as well."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
            [table],
        )


def wait_for_a_lock_wait(params, seconds=30):
    """Until a connection to the database (`params`: Django's connection parameters) waits
    for a lock: the other side of a race between two connections has reached it."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(**params, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            if watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no connection ever waited for a lock")
