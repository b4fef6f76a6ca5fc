"""PostgreSQL only: a trigram index of each pipeline's text with its spaces dropped, for phrases (issue 10).

pg_trgm reads a text's words apart, so a phrase's trigrams are its words' and the trigram index
offers every row holding those words anywhere, each then rechecked on the table: "a sailboat" at
a million pipelines, in none of them, rechecked the 67,158 holding "sailboat" and a word ending in
"a" (223-474 ms, every request). With its spaces dropped a text joins its words into one, whose
trigrams span where the spaces were ("asailboat": "asa"), and a GIN index of
replace(search_text, ' ', '') finds the rows where the words meet (i2v/lib/filters.py
JoinedWordsContain): "a sailboat" in 1 ms, "portrait neon" (1,143 rows offered, none there) in 24,
the 5,178 pipelines with "neon portrait" counted in 51 ms against 507. 222 MB at a million
pipelines, built in 38 s on this 2-core machine; its statistics (ANALYZE, run after the build)
estimate the joined text. Built concurrently; nothing is dropped (i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"pipe_search_joined": "ON jobs_pipeline USING gin (replace(search_text, ' ', '') gin_trgm_ops)"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0022_search_characters")]

    operations = [replace_indexes("jobs_pipeline", NEW, {})]
