"""PostgreSQL only: an index of the pairs of adjacent characters each asset's text holds (issue 10), as
jobs migration 0026 builds the pipelines' ("a." or "x." typed toward a file name, ", ,": 0.3-0.37 s
at a million assets, every text holding "a", "x", "." and ",")."""

from django.db import migrations

from i2v.lib.migrations import character_pairs, replace_indexes

NEW = {"asset_search_pairs": f"ON library_asset USING gin ({character_pairs('search_text')})"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0019_search_joined_typography")]

    operations = [replace_indexes("library_asset", NEW, {})]
