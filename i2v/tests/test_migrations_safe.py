"""No migration may lock a big table while it runs (i2v/testing/migration_safety.py).

A new migration that builds an index the plain way, adds a stored generated column,
a unique or indexed column, or a constraint to an existing table fails here, with
what to do instead. The migrations below were written before this rule, reviewed,
and are allowed: they ran when the tables were small, and never run again.
"""

import re

import pytest
from django.core.management import call_command
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from i2v.lib.migrations import AddIndexSafely, RemoveIndexSafely
from i2v.testing.migration_safety import problems

APPS = ("i2v", "jobs", "library", "media_processing", "prompts", "hooks")

# (app, migration): why it is allowed. Only for migrations already applied everywhere.
ALLOWED = {
    ("jobs", "0002_search_trigram"): "historical: pg_trgm and the trigram index, IF NOT EXISTS, on a young table",
    ("jobs", "0003_list_indexes"): "historical: list indexes replaced before any large deployment",
    ("jobs", "0004_pipeline_execution"): "historical: step_active_heartbeat (partial, small) built under lock",
    ("library", "0002_search_and_filter_indexes"): "historical: the stored search_text column (a rewrite) and two indexes",
    ("library", "0003_search_trigram"): "historical: pg_trgm and the trigram index, IF NOT EXISTS",
    ("media_processing", "0002_queue_state_and_sent_at"): "historical: two partial indexes on processing jobs",
}
# (app, migration): {operation index: why that operation is safe}. The rest of the
# migration is still checked, and so is its SQL.
ALLOWED_OPERATIONS = {
    ("media_processing", "0003_work_queue_leases"): {
        2: "AlterField available_at: adds a database default only (SET DEFAULT, no rewrite, no index)",
        3: "AlterField max_attempts: adds a database default only (SET DEFAULT, no rewrite, no index)",
    },
    ("library", "0005_remote_assets"): {
        1: "AlterField processing_status: a new choice only (no SQL)",
        2: "AlterField sha256: NULL allowed (DROP NOT NULL: catalog only, no rewrite, the unique index kept)",
        3: "AlterField thumbnail_status: a new choice only (no SQL)",
        4: "AlterField variant_status: a new choice only (no SQL)",
    },
    ("media_processing", "0004_fetch_kind"): {0: "AlterField kind: a new choice only (no SQL)"},
    ("jobs", "0007_fresh_steps_priority"): {0: "AlterField priority: a new default only (SET DEFAULT, no rewrite)"},
    ("jobs", "0009_detail_fk_indexes"): {
        0: "SeparateDatabaseAndState: RunPython drops two pipeline_id indexes, CONCURRENTLY on PostgreSQL",
    },
    ("jobs", "0010_list_tag_names"): {
        0: "RunPython, PostgreSQL only: a column with a constant default (no rewrite) and statement triggers",
        1: "RunPython: the backfill, 20,000 pipelines per transaction (atomic = False): no long lock",
        2: "RunPython: the GIN index built CONCURRENTLY, extended statistics and ANALYZE (no lock on writes)",
    },
    ("jobs", "0012_tag_names_always"): {
        0: "RunPython, PostgreSQL only: ALTER TABLE ... ENABLE ALWAYS TRIGGER, a catalog change (a brief lock, no scan)",
        1: "RunPython: 0010's backfill again, 20,000 pipelines per transaction (atomic = False): no long lock",
    },
    ("jobs", "0013_search_gin_indexes"): {
        0: "RunPython, PostgreSQL only: btree_gin, three GIN indexes built and two dropped CONCURRENTLY, ANALYZE",
    },
    ("jobs", "0014_list_indexes_hold_tags"): {
        0: "RunPython, PostgreSQL only: reads the pipelines whose tag names are too big for an index entry (one scan, no lock)",
        1: "RunPython, PostgreSQL only: eight indexes rebuilt CONCURRENTLY under their names (built, old dropped, renamed), ANALYZE",
    },
    ("jobs", "0015_pipe_day_cost"): {
        0: "RunPython, PostgreSQL only: one index built CONCURRENTLY (replace_indexes, nothing dropped), ANALYZE",
    },
    ("jobs", "0016_pipe_status_cost"): {
        0: "RunPython, PostgreSQL only: one index built CONCURRENTLY (replace_indexes, nothing dropped), ANALYZE",
    },
    ("jobs", "0017_step_pipeline_order_holds_kind_status"): {
        0: "SeparateDatabaseAndState: RunPython, PostgreSQL only, one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("library", "0010_search_gin_index"): {
        0: "RunPython, PostgreSQL only: btree_gin, a GIN index built and one dropped CONCURRENTLY, ANALYZE",
    },
    ("jobs", "0019_pipeline_counts"): {
        2: "RunPython: statement triggers (PostgreSQL; row triggers on SQLite), a catalog change (a brief lock, no scan)",
        3: "RunPython: the backfill, 20,000 pipelines per statement (atomic = False): no long lock",
    },
    # ALTER COLUMN ... SET STATISTICS takes SHARE UPDATE EXCLUSIVE: reads and writes go on.
    ("library", "0012_search_text_statistics"): {
        0: "RunPython, PostgreSQL only: a column's statistics target (catalog only) and ANALYZE (no lock on writes)",
    },
    ("jobs", "0018_search_text_statistics"): {
        0: "RunPython, PostgreSQL only: a column's statistics target (catalog only) and ANALYZE (no lock on writes)",
    },
    ("library", "0011_filter_stats_rarer_combinations"): {
        0: "RunPython, PostgreSQL only: an extended statistics target (catalog only) and ANALYZE (no lock on writes)",
    },
    ("library", "0007_list_filter_stats"): {
        0: "RunPython, PostgreSQL only: extended statistics and ANALYZE (no lock on writes)",
    },
    # ALTER TABLE ... SET (autovacuum_...) takes SHARE UPDATE EXCLUSIVE: reads and writes go on, no rewrite.
    ("jobs", "0020_vacuum_soon"): {
        n: "RunPython, PostgreSQL only: a table's autovacuum thresholds (catalog only, no rewrite)" for n in range(3)
    },
    ("library", "0013_vacuum_soon"): {0: "RunPython, PostgreSQL only: the table's autovacuum thresholds (catalog only, no rewrite)"},
    ("jobs", "0021_search_by_status"): {0: "RunPython, PostgreSQL only: five partial GIN indexes built CONCURRENTLY, ANALYZE"},
    ("library", "0015_search_rare_values"): {0: "RunPython, PostgreSQL only: five partial GIN indexes built CONCURRENTLY, ANALYZE"},
    ("jobs", "0022_search_characters"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("library", "0016_search_characters"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("jobs", "0023_search_joined_words"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("library", "0017_search_joined_words"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("jobs", "0024_search_joined_separators"): {0: "RunPython, PostgreSQL only: one GIN index rebuilt CONCURRENTLY under its name, ANALYZE"},
    ("library", "0018_search_joined_separators"): {0: "RunPython, PostgreSQL only: one GIN index rebuilt CONCURRENTLY under its name, ANALYZE"},
    ("jobs", "0025_search_joined_typography"): {0: "RunPython, PostgreSQL only: one GIN index rebuilt CONCURRENTLY under its name, ANALYZE"},
    ("library", "0019_search_joined_typography"): {0: "RunPython, PostgreSQL only: one GIN index rebuilt CONCURRENTLY under its name, ANALYZE"},
    ("jobs", "0026_search_pairs"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("library", "0020_search_pairs"): {0: "RunPython, PostgreSQL only: one GIN index built CONCURRENTLY, ANALYZE"},
    ("library", "0022_search_favorites"): {0: "RunPython, PostgreSQL only: one partial GIN index built CONCURRENTLY, ANALYZE"},
    ("jobs", "0028_search_signature"): {
        0: "RunPython, PostgreSQL only: a nullable column with no default (no rewrite), a function and a row trigger",
        1: "RunPython: the backfill, 20,000 pipelines per transaction (atomic = False): no long lock",
        2: "RunPython, PostgreSQL only: two B-tree indexes built CONCURRENTLY, ANALYZE",
    },
    ("library", "0023_search_signature"): {
        0: "RunPython, PostgreSQL only: a nullable column with no default (no rewrite), a function and a row trigger",
        1: "RunPython: the backfill, 20,000 assets per transaction (atomic = False): no long lock",
        2: "RunPython, PostgreSQL only: one B-tree index built CONCURRENTLY, ANALYZE",
    },
    ("jobs", "0029_signature_always"): {
        0: "RunPython, PostgreSQL only: ALTER TABLE ... ENABLE ALWAYS TRIGGER, a catalog change (a brief lock, no scan)",
        1: "RunPython: the NULL signatures filled in, 20,000 pipelines per transaction (atomic = False): no long lock",
    },
    ("library", "0024_signature_always"): {
        0: "RunPython, PostgreSQL only: ALTER TABLE ... ENABLE ALWAYS TRIGGER, a catalog change (a brief lock, no scan)",
        1: "RunPython: the NULL signatures filled in, 20,000 assets per transaction (atomic = False): no long lock",
    },
    ("jobs", "0030_work_run_number"): {1: "RunPython, SQLite only: 0019's count triggers made again (no scan)"},
    ("jobs", "0031_pipe_hidden_favorite_cost"): {
        0: "RunPython, PostgreSQL only: two partial B-tree indexes built CONCURRENTLY (replace_indexes, nothing dropped), ANALYZE",
    },
    **{
        (app, name): {
            0: "RunPython, PostgreSQL only: a function, six nullable columns with no default (no rewrite), the trigger's function",
            1: f"RunPython: the backfill, 20,000 {rows} per transaction (atomic = False): no long lock",
            2: f"RunPython, PostgreSQL only: {indexes} rebuilt CONCURRENTLY under their names (rebuild_indexes), ANALYZE",
            3: "RunPython: nothing forwards (backwards, the old column's backfill, 20,000 rows per transaction)",
            4: "RunPython, PostgreSQL only: the trigger's function and DROP COLUMN in one transaction (catalog only, a brief lock)",
            5: "RunPython, PostgreSQL only: the table's other indexes rebuilt CONCURRENTLY (REINDEX), ANALYZE",
        }
        for app, name, rows, indexes in [
            ("library", "0028_search_words", "assets", "three indexes"), ("jobs", "0032_search_words", "pipelines", "four indexes"),
        ]
    },
    ("jobs", "0033_day_cost_signature"): {
        0: "RunPython, PostgreSQL only: one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("jobs", "0034_pipe_month_cost"): {
        0: "RunPython, PostgreSQL only: one B-tree index built CONCURRENTLY (replace_indexes, nothing dropped), ANALYZE",
    },
    ("library", "0027_text_index_slim"): {
        0: "RunPython, PostgreSQL only: one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("library", "0026_kind_status_list"): {
        1: "RunPython, PostgreSQL only: one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("library", "0025_status_signature"): {
        0: "RunPython, PostgreSQL only: one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("jobs", "0027_tag_links_in_order"): {
        1: "RunPython: row triggers (ENABLE ALWAYS on PostgreSQL), a catalog change (a brief lock, no scan)",
        2: "RunPython: the backfill, 20,000 pipelines' links per statement (atomic = False): no long lock",
    },
    ("jobs", "0035_tag_links_by_cost"): {
        1: "RunPython: nullable bigint columns (no rewrite), row triggers (ENABLE ALWAYS on PostgreSQL): catalog changes",
        2: "RunPython: the backfill, 20,000 pipelines' links per statement (atomic = False): no long lock",
        3: "RunPython, PostgreSQL only: one B-tree index built CONCURRENTLY (replace_indexes, nothing dropped), ANALYZE",
        4: "RunPython, PostgreSQL only: one index rebuilt CONCURRENTLY under its name (rebuild_indexes), ANALYZE",
    },
    ("library", "0029_word_pairs"): {
        1: "RunPython, PostgreSQL only: functions and row and statement triggers (ENABLE ALWAYS): catalog changes, no scan",
        2: "RunPython: the backfill of the new table, 20,000 assets' links per statement (atomic = False): no long lock",
        3: "RunPython, PostgreSQL only: the new table's key rebuilt CONCURRENTLY (REINDEX), ANALYZE",
        4: "RunPython, PostgreSQL only: VACUUM of the new table (no lock that blocks writes)",
        5: "RunPython, PostgreSQL only: the new table's autovacuum thresholds (catalog only, no rewrite)",
    },
    ("library", "0030_word_pair_facets"): {
        0: "RunPython: a function, a new table, its triggers (ENABLE ALWAYS) on PostgreSQL; a column of an empty table on SQLite",
        1: "RunPython: the backfill of the new table, 20,000 assets' links per statement (atomic = False): no long lock",
        2: "RunPython, PostgreSQL only: the new table's key rebuilt CONCURRENTLY (REINDEX), ANALYZE",
        3: "RunPython, PostgreSQL only: VACUUM of the new table (no lock that blocks writes)",
        4: "RunPython, PostgreSQL only: the old table and triggers dropped, the new one renamed, in one short transaction",
    },
    ("jobs", "0006_remote_requests"): {
        19: "RunPython: sets provider on the steps still to run (queued, running, pending, review): a small set",
    },
}


def _migrations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return sorted((key, m) for key, m in loader.disk_migrations.items() if key[0] in APPS)


def _unsafe(app, name, migration):
    allowed = ALLOWED_OPERATIONS.get((app, name), {})
    return [(n, what) for n, what in problems(migration) if n not in allowed]


def test_it_finds_no_operation_that_locks_a_big_table():
    found = {
        f"{app}.{name}": _unsafe(app, name, migration)
        for (app, name), migration in _migrations()
        if (app, name) not in ALLOWED and _unsafe(app, name, migration)
    }
    assert found == {}, "migrations that would lock a big table (see i2v/lib/migrations.py):\n" + "\n".join(
        f"  {name}: op {n}: {what}" for name, listed in found.items() for n, what in listed
    )


def test_it_allows_only_migrations_that_exist():
    names = {key for key, _ in _migrations()}
    assert set(ALLOWED) | set(ALLOWED_OPERATIONS) <= names, "remove allow-list entries of migrations that no longer exist"


# SQL the schema editor would run on PostgreSQL: writes on an existing table that hold its lock.
LOCKING_SQL = [
    (re.compile(r'CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)\S+ ON "(?P<table>\w+)"'), "an index built without CONCURRENTLY"),
    (re.compile(r'ALTER TABLE "(?P<table>\w+)" ALTER COLUMN \S+ TYPE'), "a column type change (table rewrite)"),
    (re.compile(r'ALTER TABLE "(?P<table>\w+)" ADD COLUMN .* GENERATED ALWAYS AS .* STORED'), "a stored generated column"),
    (re.compile(r'ALTER TABLE "(?P<table>\w+)" ADD CONSTRAINT (?!.*NOT VALID)'), "a constraint validated under lock"),
]


def locking_statements(sql):
    created = set(re.findall(r'CREATE TABLE "(\w+)"', sql))
    return [
        f"{what}: {line.strip()[:120]}"
        for line in sql.splitlines()
        for pattern, what in LOCKING_SQL
        if (match := pattern.search(line)) and match.group("table") not in created
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL is PostgreSQL's")
def test_it_finds_no_locking_sql_on_postgresql(capsys, transactional_db):
    # transactional_db: sqlmigrate of a non-atomic migration refuses to run inside the test's transaction.
    found = {}
    for (app, name), _ in _migrations():
        if (app, name) in ALLOWED:
            continue
        call_command("sqlmigrate", app, name)
        statements = locking_statements(capsys.readouterr().out)
        if statements:
            found[f"{app}.{name}"] = statements
    assert found == {}, found


# The checker itself: it must catch what it exists to catch.

INDEX = models.Index(fields=["owner", "status"], name="pipe_test_owner_status")


def _migration(*operations, atomic=True):
    migration = migrations.Migration("0099_test", "jobs")
    migration.operations = list(operations)
    migration.atomic = atomic
    return migration


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddIndex("pipeline", INDEX),
        migrations.RemoveIndex("pipeline", "pipe_owner_created"),
        migrations.AddField("pipeline", "slug", models.SlugField()),  # db_index=True
        migrations.AddField("pipeline", "code", models.CharField(max_length=9, unique=True, null=True)),
        migrations.AddField("pipeline", "lower_name", models.GeneratedField(
            expression=models.functions.Lower("name"), output_field=models.TextField(), db_persist=True)),
        migrations.AddField("pipeline", "size", models.IntegerField()),  # NOT NULL, no default
        migrations.AlterField("pipeline", "name", models.TextField()),
        migrations.AddConstraint("pipeline", models.CheckConstraint(condition=models.Q(total_cost__gte=0), name="c")),
        migrations.RunSQL("CREATE INDEX x ON jobs_pipeline (name)"),
    ],
)  # fmt: skip
def test_it_flags_an_operation_that_locks_an_existing_table(operation):
    assert problems(_migration(operation))


def test_it_accepts_safe_operations():
    assert problems(_migration(AddIndexSafely("pipeline", INDEX), RemoveIndexSafely("pipeline", "x"), atomic=False)) == []
    assert problems(_migration(migrations.AddField("pipeline", "note", models.TextField(blank=True, null=True)))) == []
    assert problems(_migration(migrations.AddField("pipeline", "n", models.IntegerField(default=0)))) == []


def test_it_reads_the_database_operations_of_separate_database_and_state():
    hidden = migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex("pipeline", INDEX)], database_operations=[migrations.AddIndex("pipeline", INDEX)]
    )
    assert problems(_migration(hidden))
    state_only = migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex("pipeline", INDEX)], database_operations=[AddIndexSafely("pipeline", INDEX)]
    )
    assert problems(_migration(state_only, atomic=False)) == []


def test_it_flags_a_concurrent_index_in_an_atomic_migration():
    assert problems(_migration(AddIndexSafely("pipeline", INDEX)))


def test_it_accepts_anything_on_a_table_made_in_the_same_migration():
    create = migrations.CreateModel("Fresh", [("id", models.BigAutoField(primary_key=True)), ("n", models.IntegerField())])
    assert problems(_migration(create, migrations.AddIndex("fresh", models.Index(fields=["n"], name="fresh_n")))) == []


def test_it_reads_locking_statements_in_sql():
    sql = 'CREATE TABLE "t" ("id" bigint);\nCREATE INDEX "t_x" ON "t" ("id");\nCREATE INDEX "p_x" ON "jobs_pipeline" ("name");'
    assert locking_statements(sql) == ['an index built without CONCURRENTLY: CREATE INDEX "p_x" ON "jobs_pipeline" ("name");']
    assert locking_statements('CREATE INDEX CONCURRENTLY "p_x" ON "jobs_pipeline" ("name");') == []


@pytest.mark.django_db(transaction=True)
def test_it_builds_and_drops_an_index_on_either_database():
    # CONCURRENTLY on PostgreSQL (outside any transaction), plainly on SQLite.
    state = MigrationLoader(connection).project_state()
    add = AddIndexSafely("pipeline", INDEX)
    after = state.clone()
    add.state_forwards("jobs", after)
    with connection.schema_editor(atomic=False) as editor:
        add.database_forwards("jobs", editor, state, after)
    try:
        with connection.cursor() as cursor:
            names = connection.introspection.get_constraints(cursor, "jobs_pipeline")
        assert INDEX.name in names and names[INDEX.name]["index"]
    finally:
        remove = RemoveIndexSafely("pipeline", INDEX.name)
        final = after.clone()
        remove.state_forwards("jobs", final)
        with connection.schema_editor(atomic=False) as editor:
            remove.database_forwards("jobs", editor, after, final)
    with connection.cursor() as cursor:
        assert INDEX.name not in connection.introspection.get_constraints(cursor, "jobs_pipeline")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_replaces_an_index_an_interrupted_build_left_invalid():
    """A CREATE UNIQUE INDEX CONCURRENTLY that fails (duplicates) leaves an INVALID index, which
    IF NOT EXISTS alone would keep: build_index_concurrently drops it and builds a valid one."""
    from django.db import IntegrityError

    from i2v.lib.migrations import build_index_concurrently

    valid = "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'i2v_test_left_x'"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE i2v_test_left (x int)")
        try:
            cursor.execute("INSERT INTO i2v_test_left VALUES (1), (1)")
            with pytest.raises(IntegrityError):
                cursor.execute("CREATE UNIQUE INDEX CONCURRENTLY i2v_test_left_x ON i2v_test_left (x)")
            cursor.execute(valid)
            assert cursor.fetchone() == (False,)  # what an interrupted build leaves
            cursor.execute("DELETE FROM i2v_test_left")
            with connection.schema_editor(atomic=False) as editor:
                build_index_concurrently(editor, "i2v_test_left_x", "ON i2v_test_left (x)")
            cursor.execute(valid)
            assert cursor.fetchone() == (True,)
        finally:
            cursor.execute("DROP TABLE i2v_test_left")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_rebuilds_an_index_in_place_and_finishes_an_interrupted_rebuild():
    """rebuilding_indexes() gives an index its new definition under the same name; run again
    after an interruption that left the new one under its own name, it puts that one in place."""
    from i2v.lib.migrations import rebuilding_indexes

    definition = "SELECT indexdef FROM pg_indexes WHERE indexname = %s"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE i2v_test_rebuilt (x int, y int)")
        try:
            cursor.execute("CREATE INDEX i2v_test_rebuilt_x ON i2v_test_rebuilt (x)")
            with connection.schema_editor(atomic=False) as editor:
                rebuilding_indexes("i2v_test_rebuilt", {"i2v_test_rebuilt_x": "ON i2v_test_rebuilt (x) INCLUDE (y)"})(None, editor)
            cursor.execute(definition, ["i2v_test_rebuilt_x"])
            assert "INCLUDE (y)" in cursor.fetchone()[0]
            # Interrupted after the build and the drop: the new index under its own name only.
            cursor.execute("DROP INDEX i2v_test_rebuilt_x")
            cursor.execute("CREATE INDEX i2v_test_rebuilt_x_next ON i2v_test_rebuilt (x, y)")
            with connection.schema_editor(atomic=False) as editor:
                rebuilding_indexes("i2v_test_rebuilt", {"i2v_test_rebuilt_x": "ON i2v_test_rebuilt (x, y)"})(None, editor)
            cursor.execute(definition, ["i2v_test_rebuilt_x"])
            assert "(x, y)" in cursor.fetchone()[0]
            cursor.execute(definition, ["i2v_test_rebuilt_x_next"])
            assert cursor.fetchone() is None
            # A leftover of another definition while the old index is there: built again.
            cursor.execute("CREATE INDEX i2v_test_rebuilt_x_next ON i2v_test_rebuilt (y)")
            with connection.schema_editor(atomic=False) as editor:
                rebuilding_indexes("i2v_test_rebuilt", {"i2v_test_rebuilt_x": "ON i2v_test_rebuilt (x) INCLUDE (y)"})(None, editor)
            cursor.execute(definition, ["i2v_test_rebuilt_x"])
            assert "(x) INCLUDE (y)" in cursor.fetchone()[0]
        finally:
            cursor.execute("DROP TABLE i2v_test_rebuilt")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="tag_names is PostgreSQL's")
def test_it_stops_the_tag_index_migration_before_tag_names_an_index_entry_cant_hold(owner):
    """Jobs migration 0014 puts tag_names in the list indexes' entries (2,704 bytes at most):
    a pipeline with more tags than that, from before MAX_TAGS, stops it first, by id."""
    import hashlib
    import importlib

    from conftest import make_pipeline

    migration = importlib.import_module("jobs.migrations.0014_list_indexes_hold_tags")
    names = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(40)]  # 40 characters that don't compress
    fine = make_pipeline(owner, tags=names[:20])
    with connection.schema_editor() as editor:
        migration.check_tag_names(None, editor)
    crowded = make_pipeline(owner)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE jobs_pipeline SET tag_names = %s WHERE id = %s", [names, crowded.id])
    # (40 such names still fit the entries built already; 70 would not even be written.)
    with connection.schema_editor() as editor, pytest.raises(RuntimeError, match=f"{crowded.id} \\(40 tags\\)"):
        migration.check_tag_names(None, editor)
    assert fine.id != crowded.id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="extended statistics are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_sets_an_extended_statistics_target_and_back():
    """set_statistics_target() sets the target its migration names (library 0011: every
    combination of the Library's filters in the statistics), and reversed the default."""
    from i2v.lib.migrations import set_statistics_target

    target = "SELECT stxstattarget FROM pg_statistic_ext WHERE stxname = %s"
    with connection.cursor() as cursor:
        cursor.execute(target, ["asset_filter_stats"])
        assert cursor.fetchone() == (400,)  # as migrated
        cursor.execute("CREATE TABLE i2v_test_stats (a int, b int)")
        try:
            cursor.execute("CREATE STATISTICS i2v_test_ab (mcv) ON a, b FROM i2v_test_stats")
            operation = set_statistics_target("i2v_test_stats", "i2v_test_ab", 250)
            with connection.schema_editor(atomic=False) as editor:
                operation.code(None, editor)
            cursor.execute(target, ["i2v_test_ab"])
            assert cursor.fetchone() == (250,)
            with connection.schema_editor(atomic=False) as editor:
                operation.reverse_code(None, editor)
            cursor.execute(target, ["i2v_test_ab"])
            assert cursor.fetchone() == (-1,)
        finally:
            cursor.execute("DROP TABLE i2v_test_stats")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="storage parameters are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_vacuums_the_listed_tables_soon_and_sets_storage_back():
    """The tables whose index-only scans the lists and the detail read are vacuumed after 1,000
    new rows whatever their size (jobs 0020, library 0013); set_storage() reversed resets them."""
    from i2v.lib.migrations import set_storage

    options = "SELECT reloptions FROM pg_class WHERE relname = %s"
    with connection.cursor() as cursor:
        for table in ("jobs_pipeline", "jobs_step", "jobs_output", "library_asset"):
            cursor.execute(options, [table])
            assert {"autovacuum_vacuum_insert_threshold=1000", "autovacuum_vacuum_insert_scale_factor=0"} <= set(cursor.fetchone()[0])
        cursor.execute("CREATE TABLE i2v_test_storage (a int)")
        try:
            operation = set_storage("i2v_test_storage", autovacuum_vacuum_scale_factor=0.01, fillfactor=90)
            with connection.schema_editor(atomic=False) as editor:
                operation.code(None, editor)
            cursor.execute(options, ["i2v_test_storage"])
            assert sorted(cursor.fetchone()[0]) == ["autovacuum_vacuum_scale_factor=0.01", "fillfactor=90"]
            with connection.schema_editor(atomic=False) as editor:
                operation.reverse_code(None, editor)
            cursor.execute(options, ["i2v_test_storage"])
            assert cursor.fetchone()[0] is None
        finally:
            cursor.execute("DROP TABLE i2v_test_storage")
