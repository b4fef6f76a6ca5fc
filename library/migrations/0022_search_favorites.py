"""PostgreSQL only: a word among the favourites is searched in the favourites' own text index.

The favourites are few (1 % of a million assets in bench/lists.py) and have no column in the text
index (0010), so a word with ?favorites=1 was found by reading every favourite row for its text
("q=sailboat&favorites=1" 3.9 ms of SQL, the favourites' rows walked) or by intersecting the
favourites' list index with the word's entries among every asset ("source=upload&q=sailboat" with
favourites, 19,993 entries of the text index for 178 favourites: 17 ms; 23 ms before the list
index held is_favorite). As 0015 does for a rare kind or status, the favourites' trigrams get an
index of their own, with the other filters' columns: the planner reads it for them, those 178 in
0.7 ms of SQL, "sailboat"'s 403 favourites in 1.1 (4 MB at a million assets; built in 14 s).
Built concurrently; nothing is dropped (i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"asset_search_favorite": "ON library_asset USING gin (search_text gin_trgm_ops, kind, source, processing_status) WHERE is_favorite"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0021_favorite_list_index")]

    operations = [replace_indexes("library_asset", NEW, {}, extensions=["btree_gin"])]
