"""PostgreSQL only: each day's pipelines by cost, for a date range sorted by cost (issue 10).

No index reads a date range in cost order: the cost index (owner, cost) meets a range's rows
only as far down as their costs lie, and the date indexes (owner, created_at) hold them in
the order they were made. A month sorted by cost either walked the cost index until it met
the month (740,874 entries for 21 at a million pipelines whose costs fall with age, 217 ms)
or read all of the month's 42,221 entries to sort them (28 ms), a year's 481,675 (108 ms).

This index holds each day's pipelines (the UTC day of created_at, TIME_ZONE being UTC) in
cost order, with what a range's filters test (created_at, is_hidden): a page of a range is
the first of each day's first entries, merged (i2v/lib/pagination.py merged_by_day()): a
page from each of a year's 365 days instead of the year's rows. Built concurrently; about
5 s at a million pipelines.
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

DAY_COST = {
    "pipe_day_cost": "ON jobs_pipeline USING btree (owner_id, ((created_at AT TIME ZONE 'UTC')::date), total_cost DESC, id DESC) "
    "INCLUDE (created_at, is_hidden)"
}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0014_list_indexes_hold_tags")]

    operations = [replace_indexes("jobs_pipeline", DAY_COST, {})]
