"""The Library's list indexes carry is_hidden too, so the default view stays index-only.

0008's covering indexes were planned before assets could be hidden (0006): every
Library list filters on NOT is_hidden, which they didn't hold, so each candidate
was checked in the table. "kind=video&source=upload" (none match) read 50,000 rows
of the table again, 0.5-2.9 s at a million assets. Built concurrently under new
names before the old ones are dropped, so the Library is never without one.
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely, RemoveIndexSafely


class Migration(migrations.Migration):
    atomic = False  # indexes are built and dropped concurrently

    dependencies = [("library", "0008_list_covering_indexes")]

    operations = [
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["kind", "source", "processing_status", "is_hidden"],
                name="asset_created_list",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "kind", "-created_at", "-id"], include=["source", "processing_status", "is_hidden"],
                name="asset_kind_list",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "source", "-created_at", "-id"], include=["kind", "processing_status", "is_hidden"],
                name="asset_source_list",
            ),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "processing_status", "-created_at", "-id"], include=["kind", "source", "is_hidden"],
                name="asset_status_list",
            ),
        ),
        RemoveIndexSafely(model_name="asset", name="asset_created_cover"),
        RemoveIndexSafely(model_name="asset", name="asset_kind_created_cover"),
        RemoveIndexSafely(model_name="asset", name="asset_source_created_cover"),
        RemoveIndexSafely(model_name="asset", name="asset_status_created_cover"),
    ]  # fmt: skip
