"""The Library's list indexes carry the other filter columns (INCLUDE), issue 10.

Any combination of kind, source and processing status is then checked in the
index (an index-only scan), never row by row in the table: "kind=video&source=upload"
read 50,000 rows of the table to find none, a second at a million assets. The new
indexes are built concurrently before the old ones are dropped, so the Library is
never without one. SQLite has no INCLUDE: it gets the same indexes without it.
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely, RemoveIndexSafely


class Migration(migrations.Migration):
    atomic = False  # indexes are built and dropped concurrently

    dependencies = [("library", "0007_list_filter_stats")]

    operations = [
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["kind", "source", "processing_status"],
                name="asset_created_cover",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "kind", "-created_at", "-id"], include=["source", "processing_status"],
                name="asset_kind_created_cover",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "source", "-created_at", "-id"], include=["kind", "processing_status"],
                name="asset_source_created_cover",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "processing_status", "-created_at", "-id"], include=["kind", "source"],
                name="asset_status_created_cover",
            ),
        ),
        RemoveIndexSafely(model_name="asset", name="asset_owner_created"),
        RemoveIndexSafely(model_name="asset", name="asset_owner_kind_created"),
        RemoveIndexSafely(model_name="asset", name="asset_owner_source_created"),
        RemoveIndexSafely(model_name="asset", name="asset_owner_status_created"),
    ]  # fmt: skip
