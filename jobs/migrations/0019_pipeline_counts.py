"""Each pipeline's number of steps and outputs, kept by triggers, for its Jobs row (issue 10).

The row counted them per pipeline, two correlated subqueries: a page's cost grew with its
pipelines' sizes, 2,000 index entries of each for a 2,000-step pipeline, each with a heap
read while the pipeline runs (its pages are not all-visible), 3.5 ms of a first page's SQL
where the other rows of the page took 0.6 (docs/benchmarks.md, fifteenth pass).

Triggers on jobs_step and jobs_output keep both counts for every writer: the ORM,
bulk_create, seed_demo's COPY, the importer, cascading deletes. PostgreSQL: one UPDATE per
statement, from its transition table, firing in replica mode too (ENABLE ALWAYS: seed_demo
loads with session_replication_role = replica), adding and subtracting so that two
transactions writing one pipeline's rows each apply their own change. SQLite: one UPDATE per
row (SQLite has no statement triggers; the embedded default holds little). A migration that
remakes jobs_step or jobs_output on SQLite drops their triggers with the old table, and must
create them again (create_triggers()).

Triggers first, then the backfill (counts computed whole, 20,000 pipelines per transaction on
PostgreSQL, no long lock), so nothing written meanwhile is missed. The columns have constant
defaults: added without a rewrite.
"""

from django.db import migrations, models

BATCH = 20_000  # pipelines per transaction
COUNTED = {"jobs_step": "step_count", "jobs_output": "output_count"}

# One function for every trigger: TG_ARGV[0] names the column, TG_OP the sign; each trigger
# names its transition table `changed`.
FUNCTION = """
CREATE OR REPLACE FUNCTION jobs_pipeline_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'UPDATE jobs_pipeline p SET %1$I = p.%1$I %2$s c.n '
        'FROM (SELECT pipeline_id, count(*) AS n FROM changed GROUP BY pipeline_id) c WHERE p.id = c.pipeline_id',
        TG_ARGV[0], CASE WHEN TG_OP = 'INSERT' THEN '+' ELSE '-' END);
    RETURN NULL;
END $$
"""


# (event, its row or transition table, the count's sign, the trigger's name in `{table}_{name}_counted`)
EVENTS = (("INSERT", "NEW", "+", "added"), ("DELETE", "OLD", "-", "removed"))


def _postgresql_triggers(table, column):
    for op, transition, _, name in EVENTS:
        trigger = f"{table}_{name}_counted"
        yield f"DROP TRIGGER IF EXISTS {trigger} ON {table}"
        yield (
            f"CREATE TRIGGER {trigger} AFTER {op} ON {table} REFERENCING {transition} TABLE AS changed"
            f" FOR EACH STATEMENT EXECUTE FUNCTION jobs_pipeline_counted('{column}')"
        )
        yield f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}"


def _sqlite_triggers(table, column):
    for op, row, sign, name in EVENTS:
        trigger = f"{table}_{name}_counted"
        yield f"DROP TRIGGER IF EXISTS {trigger}"
        yield (
            f"CREATE TRIGGER {trigger} AFTER {op} ON {table} FOR EACH ROW BEGIN "
            f"UPDATE jobs_pipeline SET {column} = {column} {sign} 1 WHERE id = {row}.pipeline_id; END"
        )


def create_triggers(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(FUNCTION, None)  # no parameters: its format() string's % are its own
    for table, column in COUNTED.items():
        for sql in (_postgresql_triggers if postgresql else _sqlite_triggers)(table, column):
            schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for table in COUNTED:
        for *_, name in EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{name}_counted" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        schema_editor.execute("DROP FUNCTION IF EXISTS jobs_pipeline_counted()")


def backfill(apps, schema_editor):
    """Every pipeline's counts, computed whole, a batch of pipelines per statement."""
    counted = ", ".join(
        f"{column} = (SELECT count(*) FROM {table} c WHERE c.pipeline_id = jobs_pipeline.id)" for table, column in COUNTED.items()
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM jobs_pipeline")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            cursor.execute(f"UPDATE jobs_pipeline SET {counted} WHERE id >= %s AND id < %s", [start, start + BATCH])


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch

    dependencies = [("jobs", "0018_search_text_statistics")]

    operations = [
        migrations.AddField("pipeline", "output_count", models.IntegerField(db_default=0, default=0, editable=False)),
        migrations.AddField("pipeline", "step_count", models.IntegerField(db_default=0, default=0, editable=False)),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
