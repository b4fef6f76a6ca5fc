"""PostgreSQL only: the index of each asset's joined words, across punctuation too (issue 10), as jobs
migration 0024 rebuilds the pipelines' (a phrase with punctuation between its words that matches
nothing: 75-430 ms at a million assets, "a.b" the dearest)."""

from django.db import migrations

from i2v.lib.migrations import JOINED_ASCII, JOINED_SPACES, joined_words_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0017_search_joined_words")]

    operations = [joined_words_index("library_asset", "asset_search_joined", JOINED_ASCII, JOINED_SPACES)]
