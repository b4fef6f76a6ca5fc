"""Each tag link holds its pipeline's created_at, indexed by tag newest first (issue 10).

A tag with a text newest first ("4k" with "sailboat" at a million pipelines) was walked along the
owner's newest pipelines in the list index, each entry's tag names tested there (about 6,000
entries, 0.47 µs each) and the rows of the tagged ones read for the text (290, 3.1 µs each): 3.9 ms
for a page of 21. The tag's own links in the same order name only tagged pipelines: 312 of them
read for that page, each with its row, 1.2-1.9 ms (docs/benchmarks.md, "Thirty-seventh pass";
jobs/listing.py _tag_links() says when).

Triggers keep the copy for every writer (the ORM, bulk_create, seed_demo's COPY, the importer): a
link takes its pipeline's created_at as it is inserted, and a pipeline whose created_at is
changed (nothing in the app does) passes it to its links. PostgreSQL: row triggers, firing in
replica mode too (ENABLE ALWAYS: seed_demo loads with session_replication_role = replica).
SQLite: the same as AFTER triggers (its BEFORE triggers can't change the row); the embedded
default never walks the links, but its column holds what PostgreSQL's does. A migration that
remakes either table on SQLite drops the triggers with it, and must create them again.

Triggers first, then the backfill (20,000 pipelines' links per transaction on PostgreSQL, no
long lock), then the index, built concurrently. The column is nullable: added without a rewrite.
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely

BATCH = 20_000  # pipelines per transaction

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION jobs_pipelinetag_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT p.created_at INTO NEW.created_at FROM jobs_pipeline p WHERE p.id = NEW.pipeline_id;
    RETURN NEW;
END $$""",
    """CREATE OR REPLACE FUNCTION jobs_pipeline_created_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs_pipelinetag SET created_at = NEW.created_at WHERE pipeline_id = NEW.id;
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS pipetag_created ON jobs_pipelinetag",
    "CREATE TRIGGER pipetag_created BEFORE INSERT OR UPDATE OF pipeline_id ON jobs_pipelinetag"
    " FOR EACH ROW EXECUTE FUNCTION jobs_pipelinetag_created()",
    "ALTER TABLE jobs_pipelinetag ENABLE ALWAYS TRIGGER pipetag_created",
    "DROP TRIGGER IF EXISTS pipe_created_moved ON jobs_pipeline",
    "CREATE TRIGGER pipe_created_moved AFTER UPDATE OF created_at ON jobs_pipeline FOR EACH ROW"
    " WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION jobs_pipeline_created_moved()",
    "ALTER TABLE jobs_pipeline ENABLE ALWAYS TRIGGER pipe_created_moved",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS pipetag_created ON jobs_pipelinetag",
    "DROP TRIGGER IF EXISTS pipe_created_moved ON jobs_pipeline",
    "DROP FUNCTION IF EXISTS jobs_pipelinetag_created()",
    "DROP FUNCTION IF EXISTS jobs_pipeline_created_moved()",
]
SQLITE = [
    "DROP TRIGGER IF EXISTS pipetag_created",
    "CREATE TRIGGER pipetag_created AFTER INSERT ON jobs_pipelinetag FOR EACH ROW BEGIN"
    " UPDATE jobs_pipelinetag SET created_at = (SELECT created_at FROM jobs_pipeline WHERE id = NEW.pipeline_id)"
    " WHERE id = NEW.id; END",
    "DROP TRIGGER IF EXISTS pipe_created_moved",
    "CREATE TRIGGER pipe_created_moved AFTER UPDATE OF created_at ON jobs_pipeline FOR EACH ROW"
    " WHEN OLD.created_at IS NOT NEW.created_at BEGIN"
    " UPDATE jobs_pipelinetag SET created_at = NEW.created_at WHERE pipeline_id = NEW.id; END",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS pipetag_created", "DROP TRIGGER IF EXISTS pipe_created_moved"]


def create_triggers(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for sql in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(sql, None)  # no parameters: the functions' text is their own


def drop_triggers(apps, schema_editor):
    for sql in POSTGRESQL_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(sql)


def backfill(apps, schema_editor):
    """Every link's created_at, from its pipeline, a batch of pipelines per statement."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(pipeline_id), max(pipeline_id) FROM jobs_pipelinetag")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            cursor.execute(
                "UPDATE jobs_pipelinetag SET created_at = (SELECT p.created_at FROM jobs_pipeline p WHERE p.id = pipeline_id)"
                " WHERE pipeline_id >= %s AND pipeline_id < %s",
                [start, start + BATCH],
            )


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the index is built concurrently

    dependencies = [("jobs", "0026_search_pairs")]

    operations = [
        migrations.AddField("pipelinetag", "created_at", models.DateTimeField(null=True, editable=False)),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        AddIndexSafely(
            model_name="pipelinetag",
            index=models.Index(fields=["tag", "-created_at", "-pipeline"], name="pipetag_tag_created"),
        ),
    ]
