"""PostgreSQL only: a word with a status other than completed is searched in that status's own text index (issue 10).

The visible pipelines' text index (0013) holds their trigrams with their tags, status and model,
so a word's entries span all of them whatever status is asked for: at a million pipelines,
failed ones with "sailboat" sorted by cost read the word's entries for 15 ms of the statement's
29 (6,083 matches fetched and sorted), and pending ones tagged "4k" with it were walked for 7 ms
(the fetch through that index priced too high to be chosen). Each status but completed, which most
pipelines end in, gets an index of its visible pipelines' trigrams with their tags and model: the
failed ones' "sailboat" in 2 ms, and the pending ones' "4k" and "sailboat" fetched in 0.4 ms. A
pipeline is in at most one, so together they hold what their rows add to the visible index
(22 % of a million pipelines here: 105 MB against its 418, built in 22 s). Completed pipelines keep using the
visible index, most of which they are. Built concurrently; nothing is dropped
(i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

STATUSES = ("pending", "running", "paused", "failed", "cancelled")
NEW = {
    f"pipe_search_{status}": f"ON jobs_pipeline USING gin (search_text gin_trgm_ops, tag_names, model) WHERE status = '{status}' AND NOT is_hidden"
    for status in STATUSES
}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0020_vacuum_soon")]

    operations = [replace_indexes("jobs_pipeline", NEW, {}, extensions=["btree_gin"])]
