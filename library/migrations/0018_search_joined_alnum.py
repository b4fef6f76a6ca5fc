"""PostgreSQL only: the index of each asset's joined words drops all but letters and digits (issue 10).

Migration 0017's index joined a text's words across its spaces only, so a phrase with punctuation
between its words ("portrait, neon", "a% sailboat") gave pg_trgm no trigram across them, and the
trigram index offered every row holding the words apart: 240 ms at a million assets for one
that matches nothing. Rebuilt on regexp_replace(search_text, '[^[:alnum:]]+', '', 'g') (the
condition strips the phrase with the same function: i2v/lib/filters.py JoinedWordsContain), it
joins words across whatever separates them. Rebuilt concurrently under its own name, the old one
dropped after (i2v/lib/migrations.py rebuild_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import rebuild_indexes

JOINED = "ON library_asset USING gin ({} gin_trgm_ops)"
ALNUM = "regexp_replace(search_text, '[^[:alnum:]]+', '', 'g')"


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0017_search_joined_words")]

    operations = [
        rebuild_indexes(
            "library_asset", {"asset_search_joined": JOINED.format(ALNUM)}, {"asset_search_joined": JOINED.format("replace(search_text, ' ', '')")}
        )
    ]
