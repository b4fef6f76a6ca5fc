"""The Library filtered by a kind and a processing status other than complete has an index of its own (issue 10).

"kind=video&status=failed" (1,000 of a million assets) walked the videos' entries in the list's order
(asset_kind_list), testing each one's status: 3,018 entries for a page of 61, 2.22x the first page from
outside (docs/benchmarks.md, "Forty-seventh pass"); a pending or failed status is a few percent of each
kind. This partial index holds only the assets not complete (7 % of them), by kind and status in the
list's order, so the pair's range is the page (library/models.py AssetQuerySet._listed()). On PostgreSQL
it also holds the text's signature (migration 0023), for a word with both, rebuilt with it under its name
as 0025 did (search_signature is no model field). Built concurrently.
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely, rebuild_indexes

KEYS = (
    "ON library_asset USING btree (owner_id, kind, processing_status, created_at DESC, id DESC) INCLUDE (source, is_hidden{})"
    " WHERE NOT (processing_status = 'complete')"
)
BEFORE = {"asset_kind_status_list": KEYS.format("")}
AFTER = {"asset_kind_status_list": KEYS.format(", search_signature")}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0025_status_signature")]

    operations = [
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                fields=["owner", "kind", "processing_status", "-created_at", "-id"], include=["source", "is_hidden"],
                name="asset_kind_status_list", condition=~models.Q(processing_status="complete"),
            ),
        ),
        rebuild_indexes("library_asset", AFTER, BEFORE),
    ]
