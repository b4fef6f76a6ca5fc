"""PostgreSQL only: an index of the characters each pipeline's text holds, for texts pg_trgm has no trigram of (issue 10).

A text of one or two characters that are not ASCII letters or digits ("%", "é", "中文", "x.")
gives the trigram index nothing to look up, so it was tested on every row the other filters
find: at a million pipelines, a whole-table scan for each such search (0.3 s for "%", which no
pipeline holds). A GIN index of string_to_array(search_text, NULL), each row's characters, finds
the rows holding all of the text's characters (i2v/lib/filters.py text_search()): "%" in 0.01 ms.
30 MB at a million pipelines, built in 46 s on this 2-core machine; its statistics (ANALYZE, run
after the build) tell the planner how common each character is, so a common one is still scanned.
Built concurrently; nothing is dropped (i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"pipe_search_characters": "ON jobs_pipeline USING gin (string_to_array(search_text, NULL))"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0021_search_by_status")]

    operations = [replace_indexes("jobs_pipeline", NEW, {})]
