"""PostgreSQL only: each asset's trigram signature in the entries of a list index, for ?q= walked newest first (issue 10).

A word or phrase in about 1 % of a million assets ("neon portrait" in 6,667, "sailboat" in 7,000)
is found by walking the list index newest first and reading each entry's row to test its text:
9,101 rows read for a page of 61, 7-10 ms of SQL, the most of any Library combination. Neither
text index can hand its matches back newest first (docs/benchmarks.md, fortieth and forty-third
passes), and the text itself can't sit in a B-tree's entries (up to 2,704 bytes each).

`search_signature` is 256 bits, one set for each trigram pg_trgm reads in the row's text
(i2v_trigram_signature(), hashed by hashtext()); the index `asset_text_created` holds it in the
entries of the list's order. A text's trigrams are all in the signature of every row that holds
the text, so a walk tests the signature on the index's entries and reads only the rows that pass
(i2v/lib/filters.py TrigramSignature): for "neon portrait" 212 of those 9,101 entries, 2.2 ms of
SQL against 7.0 (docs/benchmarks.md, "Forty-fifth pass").

A trigger computes the signature from the same columns as search_text (which, generated after a
BEFORE trigger runs, it can't read) for every writer: save, bulk_create, update, seed_demo's COPY.
The rows there before it are filled in batches (atomic = False: no long lock); until then a row's
signature is NULL, which every search counts as a possible match. Adding a nullable column with no
default rewrites nothing; the index is built concurrently after the backfill.
"""

from django.db import migrations

from i2v.lib.migrations import TRIGRAM_SIGNATURE, build_index_concurrently

COLUMN = "ALTER TABLE library_asset ADD COLUMN IF NOT EXISTS search_signature bit(256)"
# search_text's own expression (0002): the column is generated after BEFORE triggers run.
TEXT = "lower(coalesce(NEW.filename, '') || coalesce(' ' || coalesce(NEW.prompt, ''), ''))"
FUNCTION = f"""
CREATE OR REPLACE FUNCTION library_asset_search_signature() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_signature := i2v_trigram_signature(show_trgm({TEXT}));
    RETURN NEW;
END $$
"""
TRIGGERS = [
    "DROP TRIGGER IF EXISTS asset_search_signature ON library_asset",
    "CREATE TRIGGER asset_search_signature BEFORE INSERT OR UPDATE OF filename, prompt ON library_asset"
    " FOR EACH ROW EXECUTE FUNCTION library_asset_search_signature()",
]
BACKFILL = """
UPDATE library_asset SET search_signature = i2v_trigram_signature(show_trgm(search_text))
WHERE id >= %s AND id < %s AND search_signature IS NULL
"""
BATCH = 20_000  # assets per transaction
# ?q= newest first, walked: owner=? [AND NOT is_hidden AND kind=? ...] AND the text's signature
# tested on the entries, ORDER BY created_at DESC, id DESC (the rows of those that pass read for the text)
INDEX = (
    "asset_text_created",
    "ON library_asset (owner_id, created_at DESC, id DESC) INCLUDE (kind, source, processing_status, is_hidden, search_signature)",
)
DROP = [
    "DROP INDEX CONCURRENTLY IF EXISTS asset_text_created",
    "DROP TRIGGER IF EXISTS asset_search_signature ON library_asset",
    "DROP FUNCTION IF EXISTS library_asset_search_signature()",
    "ALTER TABLE library_asset DROP COLUMN IF EXISTS search_signature",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


def backfill(apps, schema_editor):
    """The signatures of the assets made before the trigger, a batch per transaction."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM library_asset")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            cursor.execute(BACKFILL, [start, start + BATCH])


def index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET maintenance_work_mem = '256MB'")
        build_index_concurrently(schema_editor, *INDEX)
        schema_editor.execute("RESET maintenance_work_mem")
        schema_editor.execute("ANALYZE library_asset")


def noop(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the index is built concurrently

    dependencies = [("library", "0022_search_favorites")]

    operations = [
        # The trigger first, so nothing written during the backfill is missed.
        migrations.RunPython(_on_postgresql([TRIGRAM_SIGNATURE, COLUMN, FUNCTION, *TRIGGERS]), _on_postgresql(DROP)),
        migrations.RunPython(backfill, noop),
        migrations.RunPython(index, noop),
    ]
