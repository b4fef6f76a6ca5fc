"""PostgreSQL only: an index of the pairs of adjacent characters each pipeline's text holds (issue 10).

A text of two or three characters that pg_trgm reads no trigram of, nor the joined index once joined
("a,", "a-", "1 2", ", ,", "——": a search as it is typed, 350 ms after each key), was tested on every
row whose characters the characters index (0022) couldn't narrow, "a" and "," being in most texts:
0.4-0.65 s at a million pipelines to find none. A GIN index of each text's pairs
(i2v/lib/migrations.py character_pairs()) finds the rows holding each pair of the text: 0.1-0.8 ms for
those, 19 ms for "1 2" (5,449 pipelines hold "1 " and " 2"). 144 MB at a million pipelines, built in
2 min 23 s on this 2-core machine; its statistics (ANALYZE, run after the build) tell the planner how
common each pair is, so a common one is still scanned. Built concurrently; nothing is dropped.
"""

from django.db import migrations

from i2v.lib.migrations import character_pairs, replace_indexes

NEW = {"pipe_search_pairs": f"ON jobs_pipeline USING gin ({character_pairs('search_text')})"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0025_search_joined_typography")]

    operations = [replace_indexes("jobs_pipeline", NEW, {})]
