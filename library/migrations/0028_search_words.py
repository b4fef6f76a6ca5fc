"""PostgreSQL only: each asset's text signature as six integers, with its adjacent words (issue 10).

The trigram signature (0023) is replaced by the text's signature (i2v/lib/migrations.py SEARCH_WORDS):
the same trigram bits in four 64-bit words, and two more words of bits for the pairs of adjacent words.
"neon portrait", walked newest first at a million assets, tested 9,101 entries of asset_text_created
and read 246 rows for its 61 matches (the rest held both words apart); now 61 rows, and each entry
tested as integers, 0.31 ms less than the bit string copied and compared for each (docs/benchmarks.md,
"Fiftieth pass"). The three indexes that held the old signature are rebuilt under their names with the
new one, concurrently; then the old column is dropped.
"""

from django.db import migrations

from i2v.lib.migrations import SEARCH_SIGNATURE, search_words

# 0023's: search_text's own expression, from NEW (computed before a BEFORE trigger's generated column is).
TEXT = "lower(coalesce(NEW.filename, '') || coalesce(' ' || coalesce(NEW.prompt, ''), ''))"
INDEXES = {
    "asset_text_created": "ON library_asset (owner_id, created_at DESC, id DESC) INCLUDE (is_hidden, {})",
    "asset_status_list": "ON library_asset (owner_id, processing_status, created_at DESC, id DESC) INCLUDE (kind, source, is_hidden, {})",
    "asset_kind_status_list": "ON library_asset (owner_id, kind, processing_status, created_at DESC, id DESC)"
    " INCLUDE (source, is_hidden, {}) WHERE NOT (processing_status = 'complete')",
}


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the indexes are rebuilt concurrently

    dependencies = [("library", "0027_text_index_slim")]

    operations = search_words(
        "library_asset", TEXT,
        {name: keys.format(", ".join(SEARCH_SIGNATURE)) for name, keys in INDEXES.items()},
        {name: keys.format("search_signature") for name, keys in INDEXES.items()},
    )  # fmt: skip
