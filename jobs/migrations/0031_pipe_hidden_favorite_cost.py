"""PostgreSQL only: the hidden pipelines, and the visible favourites, each by cost, with their text's signature
(issue 10).

Sorted by cost with hidden=only or favourites, a walk read the owner's cost index (pipe_text_cost, 0028) and tested
each entry for the few it wanted: hidden ones are 5 % of a million seeded pipelines, so "sailboat" among them by cost
tested 13,372 entries for a page (4.5 of the statement's 4.9 ms, 2.07x the first page from outside). These two
partial indexes hold only those rows, in cost order, with what the other filters and the text's signature test
(as 0028's): the same page reads 656 entries (0.36 ms). jobs/listing.py _walked() walks them. 8 and 12 MB at a
million pipelines; built concurrently (11 s there).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

COLUMNS = "(owner_id, total_cost DESC, id DESC) INCLUDE (created_at, status, model, is_favorite, is_hidden, tag_names, search_signature)"
INDEXES = {
    # owner=? AND is_hidden [AND ...] ORDER BY total_cost DESC, id DESC
    "pipe_hidden_cost": f"ON jobs_pipeline {COLUMNS} WHERE is_hidden",
    # owner=? AND is_favorite AND NOT is_hidden [AND ...] ORDER BY total_cost DESC, id DESC
    "pipe_favorite_cost": f"ON jobs_pipeline {COLUMNS} WHERE is_favorite AND NOT is_hidden",
}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0030_work_run_number")]

    operations = [replace_indexes("jobs_pipeline", INDEXES, {})]
