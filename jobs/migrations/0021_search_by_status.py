"""PostgreSQL only: a word with a status other than completed is searched in that status's own text index (issue 10).

The visible pipelines' text index (0013) holds their trigrams with their tags, status and model,
so a word's entries span all of them whatever status is asked for, and the planner prices a fetch
through it high: at a million pipelines, pending ones tagged "4k" with "sailboat" were walked
through the pending pipelines' list index instead, reading 390 rows for 21 (10.3 ms of SQL for the
first page and its total), failed ones 8.8 ms. Each status but completed, which most
pipelines end in, gets an index of its visible pipelines' trigrams with their tags and model: the
pending ones' "4k" and "sailboat" are fetched through theirs, 3.7 ms, the failed ones' 5.7
(bench/own_indexes.py, side by side with these indexes dropped). A
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
