"""PostgreSQL only: each month's pipelines by cost, with the text's signature (issue 10).

A range of a month sorted by cost with a word ("sailboat" in June) was walked along the owner's cost
order (pipe_text_cost), testing the range and the word's signature on each entry: the month is a
twenty-fourth of two years' pipelines and the word one in fourteen, so a page read 14,102 entries at
a million pipelines (5.7 ms, 2.5x the first page from outside). Each day's run of pipe_day_cost (0015)
merged would read few, but the planner plans each day's arm (0.13 ms a day). This index holds each
UTC month's pipelines in cost order, with what the range and the text test: June's run read 24
entries for the page (0.4 ms); a range in up to three months merges their runs (jobs/listing.py
_walked_runs()). 118 MB at a million pipelines; built concurrently (2 s there).
"""

from django.db import migrations

from i2v.lib.migrations import SEARCH_SIGNATURE, replace_indexes

MONTH_COST = {
    "pipe_month_cost": "ON jobs_pipeline USING btree (owner_id, (date_trunc('month', created_at AT TIME ZONE 'UTC')), total_cost DESC, id DESC) "
    f"INCLUDE (created_at, is_hidden, {', '.join(SEARCH_SIGNATURE)})"
}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0033_day_cost_signature")]

    operations = [replace_indexes("jobs_pipeline", MONTH_COST, {})]
