"""PostgreSQL only: the index of each pipeline's joined words, across punctuation too (issue 10).

Migration 0023's index joined a text's words across its spaces only, so a phrase with punctuation
between its words ("portrait, neon", "neon-alley", "a% sailboat") gave pg_trgm no trigram across
them, and the trigram index offered every row holding the words apart: 150-310 ms at a million
pipelines for one that matches nothing. Rebuilt on the text with its ASCII whitespace dropped and
each ASCII punctuation mark made a letter of its own, which pg_trgm reads inside a word: a text is
one word whose trigrams span where its words meet, each mark as it is (i2v/lib/migrations.py
joined_words_index()). Rebuilt concurrently under its own name, the old one dropped after.
"""

from django.db import migrations

from i2v.lib.migrations import JOINED_ASCII, JOINED_SPACES, joined_words_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0023_search_joined_words")]

    operations = [joined_words_index("jobs_pipeline", "pipe_search_joined", JOINED_ASCII, JOINED_SPACES)]
