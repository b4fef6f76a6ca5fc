"""Each link of a pair of words holds its asset's kind, source and processing status, numbered (issue 10).

A phrase with a kind, source or status its assets never have ("neon portrait" with the videos, or the uploads,
at a million assets) was fetched from the trigram index's bitmap, intersected with that value's: 16-31 ms a
request in-process, 14-28x the first page, to find none (docs/benchmarks.md, "Fifty-sixth pass"). Its pair's links,
tested on their own entries (the key INCLUDEs the number, library/models.py AssetWordPair.facets_matching()), say so
in about 2 ms: a walk reads only the links whose number may match, each with its row.

PostgreSQL only (on SQLite the empty table gains the column). The links are made again in a table beside the
old one, which its own triggers keep meanwhile, so that the lists and the writers running the code before this
migration go on reading and writing it: i2v_asset_facets() numbers an asset's values; triggers link each
asset inserted, move its links where its text, owner, date, kind, source or status change, and delete them
with it, in replica mode too; then the links of the assets already there (20,000 assets a statement, any the
triggers wrote left as they are: the same keys, the same numbers), the key rebuilt concurrently, the table
vacuumed; then, in one short transaction, the old table and its triggers dropped and the new one given their
names: 101 s at a million assets. The key is 8 bytes an entry longer (the number, aligned: 467 MB against 382);
the table's rows are no longer (its columns ordered so that the number fills what was padding: 567 MB still).
"""

from importlib import import_module

from django.db import migrations, models, transaction

from i2v.lib.migrations import reindexed

BATCH = 20_000  # assets per transaction
TABLE = "library_assetwordpair"
NEXT = "library_assetwordpair_next"

# Kind, source and status each numbered by its place in a list, a value not listed past them (as its own):
# AssetWordPair.FACETS holds the same lists, and a test holds the two to each other.
FACETS = """
CREATE OR REPLACE FUNCTION i2v_asset_facets(kind text, source text, status text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (coalesce(array_position(ARRAY['image', 'video'], kind), 3) - 1
        + 3 * (coalesce(array_position(ARRAY['upload', 'generated'], source), 3) - 1)
        + 9 * (coalesce(array_position(ARRAY['pending', 'processing', 'complete', 'failed', 'remote'], status), 6) - 1))::smallint
$$
"""


def kept_by_triggers(table):
    """SQL of the functions and triggers (library_asset_links_*(), asset_links_*) that keep `table`'s links of each
    asset with their numbers."""
    numbered = "i2v_asset_facets({0}.kind, {0}.source, {0}.processing_status)"
    watched = ("search_text", "owner_id", "created_at", "kind", "source", "processing_status")
    # An asset's links, found by their keys (the primary key's), computed again from its text.
    keys = "owner_id = OLD.owner_id AND pair = ANY(i2v_word_pairs(OLD.search_text)) AND created_at = OLD.created_at AND asset_id = OLD.id"
    delete = f"DELETE FROM {table} WHERE {keys};"
    insert = f"INSERT INTO {table} (asset_id, owner_id, pair, created_at, facets) SELECT {{0}}.id, {{0}}.owner_id, p.pair, {{0}}.created_at, {numbered}"
    bodies = {
        "inserted": insert.format("a") + " FROM inserted a CROSS JOIN unnest(i2v_word_pairs(a.search_text)) AS p (pair);",
        # Its status changes as it is processed, its text and date seldom: its links' numbers then changed where
        # they are (1.0 ms a status update at a million assets, against 1.2 deleted and inserted again and 0.66
        # without).
        "moved": (
            "IF (OLD.search_text, OLD.owner_id, OLD.created_at) IS NOT DISTINCT FROM (NEW.search_text, NEW.owner_id, NEW.created_at) THEN\n"
            f"    UPDATE {table} SET facets = {numbered.format('NEW')} WHERE {keys};\n    ELSE\n    {delete}\n    "
            + insert.format("NEW") + " FROM unnest(i2v_word_pairs(NEW.search_text)) AS p (pair);\n    END IF;"
        ),
        "deleted": delete,
    }
    olds, news = (", ".join(f"{row}.{column}" for column in watched) for row in ("OLD", "NEW"))
    return [
        *(
            f"CREATE OR REPLACE FUNCTION library_asset_links_{event}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    {body}\n    RETURN NULL;\nEND $$"
            for event, body in bodies.items()
        ),
        *(f"DROP TRIGGER IF EXISTS asset_links_{event} ON library_asset" for event in bodies),
        "CREATE TRIGGER asset_links_inserted AFTER INSERT ON library_asset REFERENCING NEW TABLE AS inserted"
        " FOR EACH STATEMENT EXECUTE FUNCTION library_asset_links_inserted()",
        "CREATE TRIGGER asset_links_moved AFTER UPDATE ON library_asset FOR EACH ROW"
        f" WHEN (({olds}) IS DISTINCT FROM ({news})) EXECUTE FUNCTION library_asset_links_moved()",
        "CREATE TRIGGER asset_links_deleted AFTER DELETE ON library_asset FOR EACH ROW EXECUTE FUNCTION library_asset_links_deleted()",
        *(f"ALTER TABLE library_asset ENABLE ALWAYS TRIGGER asset_links_{event}" for event in bodies),
    ]


def dropped(what):
    """SQL dropping the triggers asset_{what}_* and their functions: 0029's ("pairs") or kept_by_triggers()' ("links")."""
    events = ("inserted", "moved", "deleted")
    return [
        *(f"DROP TRIGGER IF EXISTS asset_{what}_{event} ON library_asset" for event in events),
        *(f"DROP FUNCTION IF EXISTS library_asset_{what}_{event}()" for event in events),
    ]


# The key first, its last part the number: the number fills what was the row's padding (owner and pair, four
# bytes each, then the date and the asset, eight). Vacuumed as soon after it changes as 0029's table was (a walk
# reads the newest links first, each one whose page is not all-visible read again from the table).
CREATE_NEXT = f"""
CREATE TABLE IF NOT EXISTS {NEXT} (
    owner_id integer NOT NULL, pair integer NOT NULL, created_at timestamp with time zone NOT NULL, asset_id bigint NOT NULL,
    facets smallint NOT NULL,
    CONSTRAINT {NEXT}_pkey PRIMARY KEY (owner_id, pair, created_at, asset_id) INCLUDE (facets)
) WITH (
    autovacuum_vacuum_insert_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_scale_factor = 0.01
)
"""


def prepared(apps, schema_editor):
    """The new table and the triggers that keep it (PostgreSQL); the column of the empty table (SQLite)."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD COLUMN facets smallint NOT NULL DEFAULT 0")
        return
    for sql in [FACETS, CREATE_NEXT, *kept_by_triggers(NEXT)]:
        schema_editor.execute(sql, None)  # no parameters: the functions' text is their own


def unprepared(apps, schema_editor):
    """prepared() undone: the old table's column is left (its default, 0) where the swap made it the table."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP COLUMN facets")
        return
    for sql in [*dropped("links"), f"DROP TABLE IF EXISTS {NEXT}", "DROP FUNCTION IF EXISTS i2v_asset_facets(text, text, text)"]:
        schema_editor.execute(sql, None)


def backfill(apps, schema_editor):
    """The links of the assets already there, with their numbers (filled())."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            filled(cursor, NEXT)


def filled(cursor, table):
    """`table` given the links of the assets there, a batch of assets per statement (any the triggers linked
    already, an asset inserted meanwhile, left as they are)."""
    cursor.execute("SELECT min(id), max(id) FROM library_asset")
    low, high = cursor.fetchone()
    for start in range(low or 0, (high or -1) + 1, BATCH):
        cursor.execute(
            f"INSERT INTO {table} (asset_id, owner_id, pair, created_at, facets)"
            " SELECT a.id, a.owner_id, p.pair, a.created_at, i2v_asset_facets(a.kind, a.source, a.processing_status)"
            " FROM library_asset a CROSS JOIN unnest(i2v_word_pairs(a.search_text)) AS p (pair)"
            " WHERE a.id >= %s AND a.id < %s ON CONFLICT DO NOTHING",
            [start, start + BATCH],
        )


def vacuumed(apps, schema_editor):
    """The new links' pages marked all-visible for the walk's index-only scans, sooner than autovacuum would."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"VACUUM {NEXT}")


def swapped(apps, schema_editor):
    """In one transaction: the old table and its triggers dropped, the new one named as it was, its triggers'
    functions writing it under that name (a brief lock of the assets' writes: the triggers' drop waits for
    those under way)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with transaction.atomic(using=schema_editor.connection.alias):
        for sql in [
            *dropped("pairs"), f"DROP TABLE {TABLE}", f"ALTER TABLE {NEXT} RENAME TO {TABLE}",
            f"ALTER TABLE {TABLE} RENAME CONSTRAINT {NEXT}_pkey TO {TABLE}_pkey", *kept_by_triggers(TABLE),
        ]:  # fmt: skip
            schema_editor.execute(sql, None)


def unswapped(apps, schema_editor):
    """swapped() undone: the table kept (its number defaulting to 0, for 0029's triggers, which write none), kept by
    0029's triggers again (its own statements, applied once more); its numbers no longer kept from here."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with transaction.atomic(using=schema_editor.connection.alias):
        for sql in [f"ALTER TABLE {TABLE} ALTER COLUMN facets SET DEFAULT 0", *dropped("links"), *import_module("library.migrations.0029_word_pairs").POSTGRESQL]:
            schema_editor.execute(sql, None)


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the key is rebuilt concurrently

    dependencies = [("library", "0029_word_pairs")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddField("assetwordpair", "facets", models.SmallIntegerField(default=0), preserve_default=False)],
            database_operations=[migrations.RunPython(prepared, unprepared)],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        reindexed(NEXT),
        migrations.RunPython(vacuumed, migrations.RunPython.noop),
        migrations.RunPython(swapped, unswapped),
    ]
