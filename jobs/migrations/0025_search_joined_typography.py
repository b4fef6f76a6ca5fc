"""PostgreSQL only: the index of each pipeline's joined words, across typography's punctuation too (issue 10).

Migration 0024's index made each ASCII punctuation mark a letter, but not an em dash, a curly quote or
"…", which prompts pasted from a document or written by a language model are full of (a quarter of a
million seeded pipelines hold " — "): pg_trgm reads words apart across such a mark, so a phrase holding
one ("neon—portrait") had every pipeline holding its words apart offered and rechecked, 210-460 ms at a
million for none, and the characters index can't narrow a mark that common. Rebuilt with 47 characters
of typography (spaces, dashes, quotes, "…", guillemets, bullets, CJK's punctuation: i2v/lib/migrations.py
JOINED_TYPOGRAPHY) each made one letter more, after ASCII's marks'. Rebuilt concurrently under its own
name, the old one dropped after.
"""

from django.db import migrations

from i2v.lib.migrations import JOINED_ASCII, JOINED_TYPOGRAPHY, joined_words_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0024_search_joined_separators")]

    operations = [joined_words_index("jobs_pipeline", "pipe_search_joined", JOINED_TYPOGRAPHY, JOINED_ASCII)]
