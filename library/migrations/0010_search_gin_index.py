"""PostgreSQL only: the Library's text search intersects with its filters inside one GIN index (issue 10).

As for the Jobs list (jobs migration 0013): the trigram index (0003) gave a bitmap
of every asset matching the word, ANDed afterwards with the kind, source or status
filter's, so a common word cost its matches across the whole library. With the
kind, source and processing status in the same GIN index (btree_gin's operator
classes) the conditions are intersected as the index is read, the rarest one
leading. Hidden assets are few, so one index serves every view and the hidden flag
is checked on the rows. It replaces the trigram index (173 MB against 139 MB at a
million assets). Built, checked valid, and only then the old one dropped, CONCURRENTLY
(atomic = False; i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"asset_search_filters": "ON library_asset USING gin (search_text gin_trgm_ops, kind, source, processing_status)"}
OLD = {"asset_search_trgm": "ON library_asset USING gin (search_text gin_trgm_ops)"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0009_list_indexes_hidden")]

    operations = [replace_indexes("library_asset", NEW, OLD, extensions=["btree_gin"])]
