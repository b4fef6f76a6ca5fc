"""PostgreSQL only: the list indexes hold each pipeline's tag names too (issue 10).

Pipeline.Meta's list indexes (owner, then the order) INCLUDE the columns the filters
test (status, model, favourite, hidden, cost, created_at), so a filter on those is
tested on the index's entries alone. The tag filter was not: its names are in the
row (tag_names, migration 0010), so every entry a tag's range or walk meets meant
a read of the row. "tag=4k" within one week tested 9,200 rows that way, or ANDed the
tag's 44,000-entry GIN bitmap with the week's (4 ms); from the index's entries it
takes 1.4 ms, and a walk by a tag nobody has reads 12,600 entries instead of as many
rows (docs/benchmarks.md).

The partial ones hold the columns of their condition too (is_hidden, is_favorite): a
walk selects the columns its filters name, and an index-only scan needs each in the
index, whatever the condition says of its value.

tag_names is no model field, so Django can't declare it in an index's INCLUDE: the
indexes keep their names and their declaration in the model (which SQLite, with no
tag_names and no walk, builds as declared), and here, on PostgreSQL, each is rebuilt
with the columns added, concurrently, before the old one is dropped
(i2v/lib/migrations.py rebuild_indexes). At a million pipelines the eight take about 15 s to build and are
smaller than before (built at once instead of row by row). A pipeline may carry 20
tags (jobs/models.py MAX_TAGS), whose names fit an index entry many times over; one
that carries more, from before that limit, stops the migration first, with its id.
"""

from django.db import migrations

from i2v.lib.migrations import rebuild_indexes

# name: (key columns, included columns, condition, the condition's columns), as Pipeline.Meta declares them.
LIST_INDEXES = {
    "pipe_visible_cover": ("owner_id, created_at DESC, id DESC", ["status", "model", "is_favorite", "total_cost"], "NOT is_hidden", ["is_hidden"]),
    "pipe_created_cover": ("owner_id, created_at DESC, id DESC", ["status", "model", "is_favorite", "is_hidden", "total_cost"], "", []),
    "pipe_hidden_cover": ("owner_id, created_at DESC, id DESC", ["status", "model", "is_favorite", "total_cost"], "is_hidden", ["is_hidden"]),
    "pipe_status_cover": ("owner_id, status, created_at DESC, id DESC", ["model", "is_favorite", "is_hidden", "total_cost"], "", []),
    "pipe_model_cover": ("owner_id, model, created_at DESC, id DESC", ["status", "is_favorite", "is_hidden", "total_cost"], "", []),
    "pipe_favorite_cover": (
        "owner_id, created_at DESC, id DESC", ["status", "model", "total_cost"], "is_favorite AND NOT is_hidden", ["is_favorite", "is_hidden"],
    ),
    "pipe_name_cover": ("owner_id, name, id", ["created_at", "status", "model", "is_favorite", "is_hidden"], "", []),
    "pipe_cost_cover": ("owner_id, total_cost DESC, id DESC", ["created_at", "status", "model", "is_favorite", "is_hidden"], "", []),
}
# What each holds besides on PostgreSQL: the columns of its condition, which a walk's rows
# name too (the list's filters test them again), so that it reads them from the index
# alone, as from the others; and the tag names.
ADDED = {name: [c for c in columns if c not in included] + ["tag_names"] for name, (_, included, _, columns) in LIST_INDEXES.items()}
# An index entry may take 2,704 bytes; the tag names of MAX_TAGS tags (jobs/models.py) take 840 at most.
LARGEST_TAG_NAMES = 1200


def definitions(added=False):
    return {
        name: f"ON jobs_pipeline USING btree ({keys}) INCLUDE ({', '.join(included + (ADDED[name] if added else []))})"
        + (f" WHERE {where}" if where else "")
        for name, (keys, included, where, _) in LIST_INDEXES.items()
    }


def check_tag_names(apps, schema_editor):
    """Stop, saying which pipelines, before a build that their tag names would break."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, cardinality(tag_names) FROM jobs_pipeline WHERE pg_column_size(tag_names) > %s ORDER BY id LIMIT 20",
            [LARGEST_TAG_NAMES],
        )
        over = cursor.fetchall()
    if over:
        listed = ", ".join(f"{pk} ({count} tags)" for pk, count in over)
        raise RuntimeError(
            f"Pipelines with more tags than an index entry holds: {listed}. A pipeline may carry 20 tags: "
            "remove the others from these (Jobs page, the row's tags) and run the migration again."
        )


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0013_search_gin_indexes")]

    operations = [
        migrations.RunPython(check_tag_names, migrations.RunPython.noop),
        rebuild_indexes("jobs_pipeline", definitions(added=True), definitions()),
    ]
