"""PostgreSQL only: each pipeline's trigram signature in the entries of the list indexes walked with ?q= (issue 10).

The Jobs side of library migration 0023: a word or phrase met every hundred pipelines or so along
the list's order ("neon portrait" newest first, "sailboat" by cost, whose dearest pipelines hold it
in 0.76 % of rows) was found by reading each entry's row to test its text: 2,767 to 3,560 rows on as
many pages for a page of 21. The signature (i2v/lib/migrations.py TRIGRAM_SIGNATURE) is tested on
these indexes' entries first, and only the rows that pass are read (i2v/lib/filters.py signature()).
They hold what the list indexes hold (the filters a walk tests on entries, tag_names of 0014 too).

search_text is a plain column here (Pipeline.set_search_text()): the trigger reads it.
"""

from django.db import migrations

from i2v.lib.migrations import trigram_signature

INDEXES = {
    # ?q= newest or oldest first, the hidden left out: owner=? AND NOT is_hidden [AND status=? ...] AND
    # the text's signature tested on the entries, ORDER BY created_at DESC, id DESC
    "pipe_text_visible": "ON jobs_pipeline (owner_id, created_at DESC, id DESC)"
    " INCLUDE (status, model, is_favorite, is_hidden, total_cost, tag_names, search_signature) WHERE NOT is_hidden",
    # ?q= by cost, hidden or not: owner=? [AND NOT is_hidden AND ...] AND the signature, ORDER BY total_cost DESC, id DESC
    "pipe_text_cost": "ON jobs_pipeline (owner_id, total_cost DESC, id DESC)"
    " INCLUDE (created_at, status, model, is_favorite, is_hidden, tag_names, search_signature)",
}


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the indexes are built concurrently

    dependencies = [("jobs", "0027_tag_links_in_order")]

    operations = trigram_signature("jobs_pipeline", "NEW.search_text", ["search_text"], INDEXES)
