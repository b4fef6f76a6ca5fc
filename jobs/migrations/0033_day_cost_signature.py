"""PostgreSQL only: each day's pipelines by cost hold the text's signature (issue 10).

A short date range sorted by cost with a word (a week with "sailboat") is walked through each day's
run of pipe_day_cost (0015), merged (jobs/listing.py _walked()); its entries held no text, so each
was read from the table to test the word: 807 rows for a page of 21 at a million pipelines, 2.2x the
first page from outside. Holding the signature (0032), the entries are tested first and only the
rows that pass are read (docs/benchmarks.md, "Fiftieth pass"). Rebuilt under its name, concurrently.
"""

from django.db import migrations

from i2v.lib.migrations import SEARCH_SIGNATURE, rebuild_indexes

KEYS = "ON jobs_pipeline USING btree (owner_id, ((created_at AT TIME ZONE 'UTC')::date), total_cost DESC, id DESC) INCLUDE (created_at, is_hidden{})"
BEFORE = {"pipe_day_cost": KEYS.format("")}
AFTER = {"pipe_day_cost": KEYS.format(", " + ", ".join(SEARCH_SIGNATURE))}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0032_search_words")]

    operations = [rebuild_indexes("jobs_pipeline", AFTER, BEFORE)]
