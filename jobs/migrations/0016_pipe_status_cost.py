"""PostgreSQL only: each status's pipelines by cost, for a status sorted by cost (issue 10).

The cost index (owner, cost) meets a status's pipelines only as often as that status is
common: pending ones with a word, sorted by cost, at a million pipelines (18,753 pending,
1,290 of them with "sailboat") were fetched through the trigram-and-status GIN index and
their rows, 1,280 heap pages, to be sorted (6.7 ms); walking the cost index for them would
have read about 43,000 entries. The status index (owner, status, created_at) holds them in
the order they were made, not by cost.

This index holds each status's pipelines in cost order, with what the other filters test
(created_at, model, is_favorite, is_hidden, tag_names: as migration 0014's list indexes),
so a status sorted by cost is walked like the newest pipelines with a status are
(jobs/listing.py _walked()). Built concurrently.
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

STATUS_COST = {
    "pipe_status_cost": "ON jobs_pipeline USING btree (owner_id, status, total_cost DESC, id DESC) "
    "INCLUDE (created_at, model, is_favorite, is_hidden, tag_names)"
}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0015_pipe_day_cost")]

    operations = [replace_indexes("jobs_pipeline", STATUS_COST, {})]
