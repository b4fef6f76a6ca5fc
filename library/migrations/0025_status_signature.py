"""PostgreSQL only: the processing status's list index holds each asset's trigram signature too (issue 10).

A text with a status ("sailboat" among the failed assets) walks asset_status_list newest first, and
read every entry's row to test its text: 1,806 rows on as many pages for a page of 61 at a million
assets, 2.34x the first page from outside (docs/benchmarks.md, "Forty-seventh pass"). Holding the
signature (migration 0023), the walk tests it on the entries and reads only the rows that pass
(library/models.py AssetQuerySet._listed()).

search_signature is no model field, so the model keeps declaring the index as before (SQLite builds
that); here, on PostgreSQL, it is rebuilt under its name with the column added, concurrently, before
the old one is dropped (i2v/lib/migrations.py rebuild_indexes), as jobs migration 0014 did for tags.
"""

from django.db import migrations

from i2v.lib.migrations import rebuild_indexes

KEYS = "ON library_asset USING btree (owner_id, processing_status, created_at DESC, id DESC) INCLUDE (kind, source, is_hidden"
BEFORE = {"asset_status_list": f"{KEYS})"}
AFTER = {"asset_status_list": f"{KEYS}, search_signature)"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0024_signature_always")]

    operations = [rebuild_indexes("library_asset", AFTER, BEFORE)]
