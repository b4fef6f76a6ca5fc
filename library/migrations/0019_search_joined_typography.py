"""PostgreSQL only: the index of each asset's joined words, across typography's punctuation too (issue
10), as jobs migration 0025 rebuilds the pipelines' (i2v/lib/migrations.py JOINED_TYPOGRAPHY)."""

from django.db import migrations

from i2v.lib.migrations import JOINED_ASCII, JOINED_TYPOGRAPHY, joined_words_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0018_search_joined_separators")]

    operations = [joined_words_index("library_asset", "asset_search_joined", JOINED_TYPOGRAPHY, JOINED_ASCII)]
