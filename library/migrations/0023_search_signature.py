"""PostgreSQL only: each asset's trigram signature in the entries of a list index, for ?q= walked newest first (issue 10).

A word or phrase in about 1 % of a million assets ("neon portrait" in 6,667) is found by walking
the list index newest first and reading each entry's row to test its text: 9,101 rows read for a
page of 61, 10-16 ms of SQL, the most of any Library combination. Neither text index can hand its
matches back newest first (docs/benchmarks.md, fortieth and forty-third passes), and the text
itself can't sit in a B-tree's entries (up to 2,704 bytes each).

`search_signature` is 256 bits, one set for each trigram pg_trgm reads in the row's text
(i2v/lib/migrations.py TRIGRAM_SIGNATURE); `asset_text_created` holds it in the entries of the
list's order. A text's trigrams are all in the signature of every row that holds the text, so a
walk tests the signature on the index's entries and reads only the rows that pass
(i2v/lib/filters.py signature()): for "neon portrait" 246 of those 9,101 entries, 4.4 ms in all
(docs/benchmarks.md, "Forty-fifth pass").

The trigger computes it from the columns search_text is generated from (the generated column is
computed after a BEFORE trigger runs), with search_text's own expression (0002).
"""

from django.db import migrations

from i2v.lib.migrations import trigram_signature

TEXT = "lower(coalesce(NEW.filename, '') || coalesce(' ' || coalesce(NEW.prompt, ''), ''))"
INDEXES = {
    # ?q= walked newest first: owner=? [AND NOT is_hidden AND kind=? ...] AND the text's signature
    # tested on the entries, ORDER BY created_at DESC, id DESC (the rows of those that pass read for the text)
    "asset_text_created": "ON library_asset (owner_id, created_at DESC, id DESC)"
    " INCLUDE (kind, source, processing_status, is_hidden, search_signature)",
}


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the index is built concurrently

    dependencies = [("library", "0022_search_favorites")]

    operations = trigram_signature("library_asset", TEXT, ["filename", "prompt"], INDEXES)
