"""The Library's favourites have an index of their own, in the list's order, as its hidden assets do.

Favourites are starred by hand, a few in a hundred: ?favorites=1 found without it walked the
owner's whole list index testing is_favorite on each row read from the table. Partial (WHERE
is_favorite), so it holds the favourites alone, with kind, source, status and is_hidden in its
entries, so that any other filter (the default "not hidden" view too) is tested there before a row
is read. Built concurrently, as the Library's other list indexes were (0009, 0014).
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
    ]
