"""PostgreSQL only: each pipeline's text signature as six integers, with its adjacent words (issue 10).

Library migration 0028's change for the Jobs list: the trigram signature (0028) is replaced by the text's
signature (i2v/lib/migrations.py SEARCH_WORDS), four 64-bit words of trigram bits and two of adjacent
words, tested on the entries of the four indexes that held the old one (rebuilt under their names,
concurrently), then the old column is dropped (docs/benchmarks.md, "Fiftieth pass").
"""

from django.db import migrations

from i2v.lib.migrations import SEARCH_SIGNATURE, search_words

COST = "ON jobs_pipeline (owner_id, total_cost DESC, id DESC) INCLUDE (created_at, status, model, is_favorite, is_hidden, tag_names, {})"
INDEXES = {
    "pipe_text_visible": "ON jobs_pipeline (owner_id, created_at DESC, id DESC)"
    " INCLUDE (status, model, is_favorite, is_hidden, total_cost, tag_names, {}) WHERE NOT is_hidden",
    "pipe_text_cost": COST,
    "pipe_hidden_cost": f"{COST} WHERE is_hidden",
    "pipe_favorite_cost": f"{COST} WHERE is_favorite AND NOT is_hidden",
}


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch; the indexes are rebuilt concurrently

    dependencies = [("jobs", "0031_pipe_hidden_favorite_cost")]

    operations = search_words(
        "jobs_pipeline", "NEW.search_text",
        {name: keys.format(", ".join(SEARCH_SIGNATURE)) for name, keys in INDEXES.items()},
        {name: keys.format("search_signature") for name, keys in INDEXES.items()},
    )  # fmt: skip
