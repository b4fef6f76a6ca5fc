"""Each tag link holds its pipeline's total cost and (PostgreSQL) text signature, indexed by tag dearest first
(issue 10).

A tag with a text by cost ("4k" with "sailboat" at a million pipelines) was walked along the owner's
pipelines by cost (pipe_text_cost), each entry's tag names and signature tested there: 10,678 entries
for the 22 of a page, 2.9-3.7 ms, 2.3-2.4x the first page from outside (docs/benchmarks.md,
"Fifty-first pass"). The tag's own links in the same order, the text's signature tested on each entry,
name only the tag's pipelines, and read the rows of those that may hold the text: a few hundred entries
and a page's rows (jobs/listing.py _tag_links()).

Triggers keep the copy for every writer, as 0027's keep created_at: a link takes its pipeline's values
as it is inserted, and a pipeline whose cost or signature changes passes them to its links. The link's
trigger takes its pipeline's row lock before it reads it (FOR NO KEY UPDATE): a step completing, which
updates the pipeline's cost and then its links, and a link inserted meanwhile then wait for one another
in that order (pipeline, then link), and neither reads the other's value stale. What deletes links takes
the pipeline's row first for the same reason (Pipeline.remove_tag(), apply_bulk()).

PostgreSQL: row triggers firing in replica mode too (seed_demo's COPY). The pipeline's trigger has no
column list: its signature is written by a BEFORE trigger, which `UPDATE OF` doesn't see; its WHEN
compares the values. SQLite: total_cost only (the embedded default never walks the links), as AFTER
triggers.

Triggers first, then the backfill (20,000 pipelines' links per transaction, no long lock), then the
index, built concurrently, and 0027's by date rebuilt concurrently under its name, holding the signature too
(a tag with a text newest first read 312 links and their rows for a page). The columns are nullable: added
without a rewrite.
"""

from django.db import migrations, models

from i2v.lib.migrations import SEARCH_SIGNATURE, rebuild_indexes, replace_indexes

BATCH = 20_000  # pipelines per transaction

COPIED = ["created_at", "total_cost", *SEARCH_SIGNATURE]


def _listed(prefix):
    return ", ".join(f"{prefix}{column}" for column in COPIED)


POSTGRESQL = [
    *(f"ALTER TABLE jobs_pipelinetag ADD COLUMN IF NOT EXISTS {column} bigint" for column in SEARCH_SIGNATURE),
    f"""CREATE OR REPLACE FUNCTION jobs_pipelinetag_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT {_listed("p.")} INTO {_listed("NEW.")} FROM jobs_pipeline p WHERE p.id = NEW.pipeline_id FOR NO KEY UPDATE;
    RETURN NEW;
END $$""",
    f"""CREATE OR REPLACE FUNCTION jobs_pipeline_created_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs_pipelinetag SET ({", ".join(COPIED)}) = ({_listed("NEW.")}) WHERE pipeline_id = NEW.id;
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS pipe_created_moved ON jobs_pipeline",
    "CREATE TRIGGER pipe_created_moved AFTER UPDATE ON jobs_pipeline FOR EACH ROW"
    f" WHEN (({_listed('OLD.')}) IS DISTINCT FROM ({_listed('NEW.')})) EXECUTE FUNCTION jobs_pipeline_created_moved()",
    "ALTER TABLE jobs_pipeline ENABLE ALWAYS TRIGGER pipe_created_moved",
]
# Back to 0027's.
POSTGRESQL_BACK = [
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
    "DROP TRIGGER IF EXISTS pipe_created_moved ON jobs_pipeline",
    "CREATE TRIGGER pipe_created_moved AFTER UPDATE OF created_at ON jobs_pipeline FOR EACH ROW"
    " WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION jobs_pipeline_created_moved()",
    "ALTER TABLE jobs_pipeline ENABLE ALWAYS TRIGGER pipe_created_moved",
    *(f"ALTER TABLE jobs_pipelinetag DROP COLUMN IF EXISTS {column}" for column in SEARCH_SIGNATURE),
]
SQLITE = [
    "DROP TRIGGER IF EXISTS pipetag_cost",
    "CREATE TRIGGER pipetag_cost AFTER INSERT ON jobs_pipelinetag FOR EACH ROW BEGIN"
    " UPDATE jobs_pipelinetag SET total_cost = (SELECT total_cost FROM jobs_pipeline WHERE id = NEW.pipeline_id)"
    " WHERE id = NEW.id; END",
    "DROP TRIGGER IF EXISTS pipe_cost_moved",
    "CREATE TRIGGER pipe_cost_moved AFTER UPDATE OF total_cost ON jobs_pipeline FOR EACH ROW"
    " WHEN OLD.total_cost IS NOT NEW.total_cost BEGIN"
    " UPDATE jobs_pipelinetag SET total_cost = NEW.total_cost WHERE pipeline_id = NEW.id; END",
]
SQLITE_BACK = ["DROP TRIGGER IF EXISTS pipetag_cost", "DROP TRIGGER IF EXISTS pipe_cost_moved"]

# A tag's links by cost: tag_id = ? ORDER BY total_cost DESC, pipeline_id DESC, the text's signature (and a
# range's created_at) tested on the entries.
INDEX = {
    "pipetag_tag_cost": "ON jobs_pipelinetag (tag_id, total_cost DESC, pipeline_id DESC)"
    f" INCLUDE (created_at, {', '.join(SEARCH_SIGNATURE)})"
}
# 0027's, by date, holding the signature too: rebuilt under its name.
BY_DATE = "ON jobs_pipelinetag (tag_id, created_at DESC, pipeline_id DESC)"
SIGNED_BY_DATE = {"pipetag_tag_created": f"{BY_DATE} INCLUDE ({', '.join(SEARCH_SIGNATURE)})"}


def create_triggers(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for sql in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(sql, None)  # no parameters: the functions' text is their own


def drop_triggers(apps, schema_editor):
    for sql in POSTGRESQL_BACK if schema_editor.connection.vendor == "postgresql" else SQLITE_BACK:
        schema_editor.execute(sql, None)


def backfill(apps, schema_editor):
    """Every link's copy of its pipeline's values, a batch of pipelines per statement."""
    postgresql = schema_editor.connection.vendor == "postgresql"
    columns = COPIED[1:] if postgresql else ["total_cost"]
    copied = ", ".join(f"{column} = p.{column}" for column in columns)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(pipeline_id), max(pipeline_id) FROM jobs_pipelinetag")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            if postgresql:
                cursor.execute(
                    f"UPDATE jobs_pipelinetag t SET {copied} FROM jobs_pipeline p"
                    " WHERE p.id = t.pipeline_id AND t.pipeline_id >= %s AND t.pipeline_id < %s",
                    [start, start + BATCH],
                )
            else:
                cursor.execute(
                    "UPDATE jobs_pipelinetag SET total_cost = (SELECT p.total_cost FROM jobs_pipeline p WHERE p.id = pipeline_id)"
                    " WHERE pipeline_id >= %s AND pipeline_id < %s",
                    [start, start + BATCH],
                )


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the index is built concurrently

    dependencies = [("jobs", "0034_pipe_month_cost")]

    operations = [
        migrations.AddField(
            "pipelinetag", "total_cost", models.DecimalField(max_digits=12, decimal_places=4, null=True, editable=False)
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        replace_indexes("jobs_pipelinetag", INDEX, {}),
        rebuild_indexes("jobs_pipelinetag", SIGNED_BY_DATE, {"pipetag_tag_created": BY_DATE}),
    ]
