"""Each asset's pairs of adjacent words, in a table of their own keyed by owner, pair and date (issue 10).

A phrase in few assets spread along the order ("neon portrait", 0.67 % of a million) had its page walked
through 9,101 entries of asset_text_created, testing each one's signature: 2.1x the first page from outside
(docs/benchmarks.md, "Fifty-fifth pass"). The assets holding one of its pairs of words ("eon por"), read
newest first from that pair's links, are those that may hold it: 61 links for the page
(library/models.py AssetWordPair, AssetQuerySet._word_pair_links()).

PostgreSQL only; on SQLite the table is made and stays empty (the embedded default never walks it). A
function lists a text's pairs (i2v_word_pairs(): ASCII words listed, not ranged, as SEARCH_WORDS lists them);
triggers keep the links for every writer, firing in replica mode too (seed_demo's COPY): an asset's inserted
with it (a statement trigger reading the inserted rows at once), moved where its text, owner or date change (a
row trigger whose WHEN compares them: search_text is generated, which `UPDATE OF` doesn't see), deleted with
it, by their keys: the primary key (owner, pair, date, asset) is the walk's index and the table's only one.
Triggers first, then the links of the assets already there (20,000 assets per transaction, no long lock; the
key's entries written as they come, then the key rebuilt concurrently: at a million assets, 9.9 million links,
567 MB and a key of 382 MB), then the table vacuumed, and set to be vacuumed as soon after it changes as the
assets are.
"""

from django.conf import settings
from django.db import migrations, models

from i2v.lib.migrations import reindexed, set_storage

BATCH = 20_000  # assets per transaction

WORD_PAIRS = """
CREATE OR REPLACE FUNCTION i2v_word_pairs(t text) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(array_agg(DISTINCT hashtext(right(a, 3) || ' ' || left(z, 3))), '{}')
    FROM (
        SELECT x.a, lead(x.a) OVER (ORDER BY x.p) AS z
        FROM unnest(regexp_split_to_array(t, '[^abcdefghijklmnopqrstuvwxyz0123456789]+')) WITH ORDINALITY AS x (a, p)
    ) AS adjacent WHERE length(a) >= 3 AND length(z) >= 3
$$
"""
LINKED = "SELECT a.id, a.owner_id, p.pair, a.created_at FROM {rows} a CROSS JOIN unnest(i2v_word_pairs(a.search_text)) AS p (pair)"
INSERT = "INSERT INTO library_assetwordpair (asset_id, owner_id, pair, created_at) "
# An asset's links, found by their keys (the primary key's), computed again from its text.
DELETE = (
    "DELETE FROM library_assetwordpair WHERE owner_id = OLD.owner_id AND pair = ANY(i2v_word_pairs(OLD.search_text))"
    " AND created_at = OLD.created_at AND asset_id = OLD.id;"
)

POSTGRESQL = [
    WORD_PAIRS,
    f"""CREATE OR REPLACE FUNCTION library_asset_pairs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {INSERT}{LINKED.format(rows="inserted")};
    RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION library_asset_pairs_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {DELETE}
    {INSERT}SELECT NEW.id, NEW.owner_id, p.pair, NEW.created_at FROM unnest(i2v_word_pairs(NEW.search_text)) AS p (pair);
    RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION library_asset_pairs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {DELETE}
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS asset_pairs_inserted ON library_asset",
    "CREATE TRIGGER asset_pairs_inserted AFTER INSERT ON library_asset REFERENCING NEW TABLE AS inserted"
    " FOR EACH STATEMENT EXECUTE FUNCTION library_asset_pairs_inserted()",
    "DROP TRIGGER IF EXISTS asset_pairs_moved ON library_asset",
    "CREATE TRIGGER asset_pairs_moved AFTER UPDATE ON library_asset FOR EACH ROW"
    " WHEN ((OLD.search_text, OLD.owner_id, OLD.created_at) IS DISTINCT FROM (NEW.search_text, NEW.owner_id, NEW.created_at))"
    " EXECUTE FUNCTION library_asset_pairs_moved()",
    "DROP TRIGGER IF EXISTS asset_pairs_deleted ON library_asset",
    "CREATE TRIGGER asset_pairs_deleted AFTER DELETE ON library_asset FOR EACH ROW EXECUTE FUNCTION library_asset_pairs_deleted()",
    *(f"ALTER TABLE library_asset ENABLE ALWAYS TRIGGER {name}" for name in ("asset_pairs_inserted", "asset_pairs_moved", "asset_pairs_deleted")),
]
POSTGRESQL_BACK = [
    *(f"DROP TRIGGER IF EXISTS {name} ON library_asset" for name in ("asset_pairs_inserted", "asset_pairs_moved", "asset_pairs_deleted")),
    *(f"DROP FUNCTION IF EXISTS library_asset_pairs_{what}()" for what in ("inserted", "moved", "deleted")),
    "DROP FUNCTION IF EXISTS i2v_word_pairs(text)",
]


def statements(sqls):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in sqls:
                schema_editor.execute(sql, None)  # no parameters: the functions' text is their own

    return run


def backfill(apps, schema_editor):
    """The links of the assets already there, a batch of assets per statement (any the trigger linked already, an
    asset inserted meanwhile, left as they are)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM library_asset")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            rows = "(SELECT * FROM library_asset WHERE id >= %s AND id < %s)"
            cursor.execute(f"{INSERT}{LINKED.format(rows=rows)} ON CONFLICT DO NOTHING", [start, start + BATCH])


def vacuumed(apps, schema_editor):
    """The links' pages marked all-visible for the walk's index-only scans, sooner than autovacuum would."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("VACUUM library_assetwordpair")


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the key is rebuilt concurrently

    dependencies = [
        ("library", "0028_search_words"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AssetWordPair",
            fields=[
                ("pk", models.CompositePrimaryKey("owner", "pair", "created_at", "asset", blank=True, editable=False, primary_key=True, serialize=False)),
                ("pair", models.IntegerField()),
                ("created_at", models.DateTimeField()),
                (
                    "asset",
                    models.ForeignKey(db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="+", to="library.asset"),
                ),
                (
                    "owner",
                    models.ForeignKey(db_constraint=False, db_index=False, on_delete=models.DO_NOTHING, related_name="+", to=settings.AUTH_USER_MODEL),
                ),
            ],
        ),
        migrations.RunPython(statements(POSTGRESQL), statements(POSTGRESQL_BACK)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        reindexed("library_assetwordpair"),
        migrations.RunPython(vacuumed, migrations.RunPython.noop),
        # Vacuumed soon after it changes, as the assets are (0013): a walk reads the newest links first, each one
        # whose page is not all-visible read again from the table. About ten links an asset: 10,000 new links are
        # about the 1,000 new assets after which the asset table is vacuumed.
        set_storage(
            "library_assetwordpair",
            autovacuum_vacuum_insert_threshold=10_000,
            autovacuum_vacuum_insert_scale_factor=0,
            autovacuum_vacuum_threshold=10_000,
            autovacuum_vacuum_scale_factor=0.01,
        ),
    ]
