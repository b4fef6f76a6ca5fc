"""PostgreSQL only: the index of each asset's joined words, across punctuation too (issue 10), as jobs
migration 0024 rebuilds the pipelines' (a phrase with punctuation between its words that matches
nothing: 75-430 ms at a million assets, "a.b" the dearest)."""

import string

from django.db import migrations

from i2v.lib.migrations import joined_words_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0017_search_joined_words")]

    # ASCII whitespace dropped, each ASCII punctuation mark a letter; back to migration 0017's spaces dropped.
    operations = [joined_words_index("library_asset", "asset_search_joined", (" \t\n\r\f\v", string.punctuation), (" ", ""))]
