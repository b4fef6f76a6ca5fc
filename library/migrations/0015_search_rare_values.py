"""PostgreSQL only: a word with a rare kind or status is searched in that value's own text index (issue 10).

The text index (0010) holds every asset's trigrams with its kind, source and status, so a
word's entries span the whole library whatever the filter beside it: "status=failed&q=sailboat"
read the six trigrams' entries of a million assets to keep the 667 failed ones (3.7 ms of the
index, 7.5 ms of the page's SQL against the unfiltered page's 1.2), and "kind=video&q=sailboat",
which matches nothing, 7.3 ms. Each value that only a small share of a library holds (videos,
and every status but complete, which assets pass through or stop at) gets an index of its own
assets' trigrams, with the other filters' columns: the planner reads it for that value,
the failed ones' "sailboat" in 0.3 ms, the videos' in 0.02. An asset is in at most one status's
index and only videos are in the video one, so together they add what the rows they hold add
to the text index (42 MB at a million assets with 5 % videos and 7 % not complete, against
its 178; built in 16 s). The common values (images, complete) keep using the text index: their entries are
most of it. Built concurrently; nothing is dropped (i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

# The filters' columns other than the one the index is kept for (btree_gin, from 0010).
RARE = {
    "asset_search_video": ("source, processing_status", "kind = 'video'"),
    **{
        f"asset_search_{status}": ("kind, source", f"processing_status = '{status}'")
        for status in ("pending", "processing", "failed", "remote")
    },
}
NEW = {name: f"ON library_asset USING gin (search_text gin_trgm_ops, {columns}) WHERE {where}" for name, (columns, where) in RARE.items()}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0014_kind_source_index")]

    operations = [replace_indexes("library_asset", NEW, {}, extensions=["btree_gin"])]
