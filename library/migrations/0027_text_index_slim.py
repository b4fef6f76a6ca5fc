"""PostgreSQL only: asset_text_created holds only what a walk for a text tests on its entries (issue 10).

Migration 0023 built it with the kind, source and status the other list indexes hold, but a walk reads it
only when none of those is asked for (library/models.py AssetQuerySet._listed(): a kind, source or status
leads along its own index), so each entry carried three values nobody read: 189 MB at a million assets (as
0023 left it). Rebuilt with the hidden flag and the signature alone (82 MB), under its name, concurrently, its
walk reads fewer pages: "neon portrait", 9,101 entries for a page, 3.99 ms of statement against 4.25
(median of 8 interleaved, docs/benchmarks.md "Forty-eighth pass").
"""

from django.db import migrations

from i2v.lib.migrations import rebuild_indexes

KEYS = "ON library_asset USING btree (owner_id, created_at DESC, id DESC) INCLUDE ("
BEFORE = {"asset_text_created": f"{KEYS}kind, source, processing_status, is_hidden, search_signature)"}
AFTER = {"asset_text_created": f"{KEYS}is_hidden, search_signature)"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0026_kind_status_list")]

    operations = [rebuild_indexes("library_asset", AFTER, BEFORE)]
