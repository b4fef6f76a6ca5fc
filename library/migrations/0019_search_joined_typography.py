"""PostgreSQL only: the index of each asset's joined words, across typography's punctuation too (issue
10), as jobs migration 0025 rebuilds the pipelines' (written out here as built)."""

import string

from django.db import migrations

from i2v.lib.migrations import joined_words_index

ASCII = (" \t\n\r\f\v", string.punctuation)
TYPOGRAPHY = (" \t\n\r\f\v", string.punctuation, "\u00a0\u2007\u202f\u3000‐‑‒–—―‘’‚‛“”„‟‹›«»…‧•·・、。，．！？：；（）【】《》〈〉「」『』")


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0018_search_joined_separators")]

    operations = [joined_words_index("library_asset", "asset_search_joined", TYPOGRAPHY, ASCII)]
