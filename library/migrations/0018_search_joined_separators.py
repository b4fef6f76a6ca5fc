"""PostgreSQL only: the index of each asset's joined words, across punctuation too (issue 10).

Migration 0017's index joined a text's words across its spaces only, so a phrase with punctuation
between its words ("portrait, neon", "neon-alley", "a% sailboat") gave pg_trgm no trigram across
them, and the trigram index offered every row holding the words apart: 75-400 ms at a million
assets for one that matches nothing. Rebuilt on the text with its ASCII whitespace dropped and
each ASCII punctuation mark made a letter of its own, which pg_trgm reads inside a word: a text is
one word whose trigrams span where its words meet, each mark as it is. The condition joins the
phrase with the same SQL (i2v/lib/filters.py joined_sql()), which this migration writes out as it
is today: a later change of it is a migration of its own. Rebuilt concurrently under its own name,
the old one dropped after (i2v/lib/migrations.py rebuild_indexes).
"""

import string

from django.db import migrations

from i2v.lib.migrations import rebuild_indexes

TABLE = "library_asset"
INDEX = "asset_search_joined"


def joined(expression):
    for space in " \t\n\r\f\v":
        expression = f"replace({expression}, '{space}', '')"
    for i, mark in enumerate(string.punctuation):
        expression = "replace(" + expression + ", '" + mark.replace("'", "''") + "', '" + chr(0x1401 + i) + "')"
    return expression


def definition(expression):
    return f"ON {TABLE} USING gin ({expression} gin_trgm_ops)"


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0017_search_joined_words")]

    operations = [
        rebuild_indexes(TABLE, {INDEX: definition(joined("search_text"))}, {INDEX: definition("replace(search_text, ' ', '')")})
    ]
