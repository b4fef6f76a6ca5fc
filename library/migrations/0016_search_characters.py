"""PostgreSQL only: an index of the characters each asset's text holds, for texts pg_trgm has no trigram of (issue 10).

The Library's side of jobs migration 0022: "%", "é" or "中文" in a million assets' names were
tested on every row (0.25-0.28 s for "%"); this GIN index of string_to_array(search_text, NULL)
finds the rows holding all of a text's characters (i2v/lib/filters.py text_search()), when the
planner, from the statistics ANALYZE gathers after the build, takes them for rare.
Built concurrently; nothing is dropped (i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"asset_search_characters": "ON library_asset USING gin (string_to_array(search_text, NULL))"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0015_search_rare_values")]

    operations = [replace_indexes("library_asset", NEW, {})]
