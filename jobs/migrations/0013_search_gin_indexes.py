"""PostgreSQL only: the text search and the tag filter intersect inside one GIN index (issue 10).

The trigram index (0002) and the tag-name index (0010) each produced a bitmap of
every row matching their own condition, which PostgreSQL then ANDed with the
others: a common word's bitmap is the same size however few rows the other
filters leave ("portrait" matches 190,000 of a million pipelines: 50 ms, for
673 favourites tagged "archive"). A GIN index over several columns intersects
their conditions as it reads them, skipping through the bigger posting lists
with the rarest one, so "portrait" with "archive" reads 8,895 entries in 16 ms
and "sailboat" with status=pending 1,360 in 7 ms (docs/benchmarks.md).

So the word's trigrams, the tag names, the status and the model (btree_gin's
operator classes, for the plain columns) share one index. Booleans can't join
them (PostgreSQL matches a bare boolean column to btree indexes only), so the
index is partial instead, one per view of the list: the visible pipelines, the
hidden ones, and the visible favourites, whose small index makes "favorites"
with a word cost what its few thousand rows cost. hidden=include is written as
(is_hidden OR NOT is_hidden) by the list (jobs/listing.py), which the planner
serves with the visible and the hidden index ORed.

They replace both older indexes (427 MB and 7.5 MB at a million pipelines,
against 202 + 25 + 32 MB). Built, checked valid, and only then the old ones dropped,
CONCURRENTLY (atomic = False; i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

COLUMNS = "(search_text gin_trgm_ops, tag_names, status, model)"
INDEXES = {
    "pipe_search_visible": "NOT is_hidden",
    "pipe_search_hidden": "is_hidden",
    "pipe_search_favorite": "is_favorite AND NOT is_hidden",
}
OLD = {
    "pipe_search_trgm": "ON jobs_pipeline USING gin (search_text gin_trgm_ops)",
    "pipe_tag_names": "ON jobs_pipeline USING gin (tag_names)",
}
NEW = {name: f"ON jobs_pipeline USING gin {COLUMNS} WHERE {where}" for name, where in INDEXES.items()}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0012_tag_names_always")]

    operations = [replace_indexes("jobs_pipeline", NEW, OLD, extensions=["btree_gin"])]
