"""PostgreSQL only: each pipeline's tag names in an array with a GIN index, for ?tag= (issue 10).

Filtering through the link table joined by name ran one index lookup per tagged
pipeline (46,577 for one tag at a million pipelines) whenever the tag was combined
with another selective filter: 430-860 ms. `tag_names @> ARRAY['4k']` is one GIN
bitmap that PostgreSQL ANDs with the other filters' indexes, and, being a
constant, is estimated from the column's element statistics, so the planner picks
the right plan and the list's "about N" stays right. Names rather than ids: a
name is what the request carries, so no query resolves it first (tag names are
unique per owner and pipelines only get their owner's tags).

Triggers on jobs_pipelinetag keep the array up to date for every writer (the
ORM, bulk_create, seed_demo's COPY, the importer), one UPDATE per statement. They
change the array incrementally (add or remove names), so two transactions tagging
the same pipeline at once each apply their change to the row the other left.

Extended statistics on the filter columns: status and model depend on each other
(pending pipelines run on local models), so without them "status=pending&model=veo-3"
is estimated at thousands of rows when none exist.

SQLite (the embedded default) skips all of this; jobs/listing.py filters through the
link table there. Non-atomic: the backfill commits in batches (no long row locks)
and the index is built concurrently.
"""

from django.db import migrations

COLUMN = "ALTER TABLE jobs_pipeline ADD COLUMN IF NOT EXISTS tag_names text[] NOT NULL DEFAULT '{}'"

# One function for both triggers: each names its transition table `changed`.
FUNCTION = """
CREATE OR REPLACE FUNCTION jobs_pipeline_tag_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE jobs_pipeline p
        SET tag_names = ARRAY(SELECT DISTINCT n FROM unnest(p.tag_names || c.names) AS n ORDER BY n)
        FROM (SELECT ch.pipeline_id, array_agg(t.name::text) AS names
              FROM changed ch JOIN jobs_tag t ON t.id = ch.tag_id GROUP BY ch.pipeline_id) c
        WHERE p.id = c.pipeline_id;
    ELSE
        UPDATE jobs_pipeline p
        SET tag_names = ARRAY(SELECT n FROM unnest(p.tag_names) AS n WHERE n <> ALL (c.names) ORDER BY n)
        FROM (SELECT ch.pipeline_id, array_agg(t.name::text) AS names
              FROM changed ch JOIN jobs_tag t ON t.id = ch.tag_id GROUP BY ch.pipeline_id) c
        WHERE p.id = c.pipeline_id;
    END IF;
    RETURN NULL;
END $$
"""
TRIGGERS = [
    "DROP TRIGGER IF EXISTS pipetag_names_added ON jobs_pipelinetag",
    "CREATE TRIGGER pipetag_names_added AFTER INSERT ON jobs_pipelinetag REFERENCING NEW TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION jobs_pipeline_tag_names()",
    "DROP TRIGGER IF EXISTS pipetag_names_removed ON jobs_pipelinetag",
    "CREATE TRIGGER pipetag_names_removed AFTER DELETE ON jobs_pipelinetag REFERENCING OLD TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION jobs_pipeline_tag_names()",
]
BACKFILL = """
UPDATE jobs_pipeline p SET tag_names = k.names
FROM (SELECT pt.pipeline_id, array_agg(t.name::text ORDER BY t.name) AS names
      FROM jobs_pipelinetag pt JOIN jobs_tag t ON t.id = pt.tag_id
      WHERE pt.pipeline_id >= %s AND pt.pipeline_id < %s GROUP BY pt.pipeline_id) k
WHERE p.id = k.pipeline_id AND p.tag_names IS DISTINCT FROM k.names
"""
BATCH = 20_000  # pipelines per transaction
INDEX = [
    # Tag filter: tag_names @> ARRAY[?] (a bitmap, ANDed with the other filters' indexes)
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS pipe_tag_names ON jobs_pipeline USING gin (tag_names)",
    # Estimates of combined filters (status x model x favourite x hidden)
    "CREATE STATISTICS IF NOT EXISTS pipe_filter_stats (dependencies, mcv)"
    " ON status, model, is_favorite, is_hidden FROM jobs_pipeline",
    "ANALYZE jobs_pipeline",
]
DROP = [
    "DROP STATISTICS IF EXISTS pipe_filter_stats",
    "DROP INDEX CONCURRENTLY IF EXISTS pipe_tag_names",
    "DROP TRIGGER IF EXISTS pipetag_names_added ON jobs_pipelinetag",
    "DROP TRIGGER IF EXISTS pipetag_names_removed ON jobs_pipelinetag",
    "DROP FUNCTION IF EXISTS jobs_pipeline_tag_names()",
    "ALTER TABLE jobs_pipeline DROP COLUMN IF EXISTS tag_names",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


def backfill(apps, schema_editor):
    """Fill the array of the pipelines tagged before the triggers existed, a batch per transaction."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(pipeline_id), max(pipeline_id) FROM jobs_pipelinetag")
        low, high = cursor.fetchone()
        if low is None:
            return
        for start in range(low, high + 1, BATCH):
            cursor.execute(BACKFILL, [start, start + BATCH])


def noop(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the index is built concurrently

    dependencies = [("jobs", "0009_detail_fk_indexes")]

    operations = [
        # Triggers first, so nothing tagged during the backfill is missed.
        migrations.RunPython(_on_postgresql([COLUMN, FUNCTION, *TRIGGERS]), _on_postgresql(DROP)),
        migrations.RunPython(backfill, noop),
        migrations.RunPython(_on_postgresql(INDEX), noop),
    ]
