"""The Library's favourites have indexes of their own, in the list's order, as its hidden assets do.

Favourites are starred by hand, a few in a hundred: ?favorites=1 found without them walked the
owner's whole list index testing is_favorite on each row read from the table. Partial (WHERE
is_favorite), so they hold the favourites alone, with kind, source, status and is_hidden in their
entries, so that any other filter (the default "not hidden" view too) is tested there before a row
is read; and is_favorite, true in every entry, which the list's statements select: without it
each of the 10,215 favourites of a million assets was read from the table (9,845 pages, 11 ms of
"source=upload&q=sailboat"'s 23 ms of SQL with favourites; index-only, 97 pages). A kind or a status among the favourites matches
fewer than a thousand, counted exactly: read from their own range (0.5 ms of SQL for the 516 video
favourites, 0.8 for the 211 failed ones) where every favourite's entry was tested (1.9 and 2.8 ms).
Each 0.75-0.78 MB at a million assets with 1 % favourites. Built concurrently, as the Library's other
list indexes were (0009, 0014).
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False  # built concurrently

    dependencies = [("library", "0020_search_pairs")]

    operations = [
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["kind", "source", "processing_status", "is_hidden", "is_favorite"],
                name="asset_favorite_list", condition=models.Q(is_favorite=True),
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "kind", "-created_at", "-id"], include=["source", "processing_status", "is_hidden", "is_favorite"],
                name="asset_favorite_kind_list", condition=models.Q(is_favorite=True),
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "processing_status", "-created_at", "-id"], include=["kind", "source", "is_hidden", "is_favorite"],
                name="asset_favorite_status_list", condition=models.Q(is_favorite=True),
            ),
        ),
    ]
