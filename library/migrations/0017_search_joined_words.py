"""PostgreSQL only: a trigram index of each asset's text with its spaces dropped, for phrases (issue 10).

The Library's side of jobs migration 0023: a phrase of common words that matches nothing ("a
sailboat" at a million assets) rechecked every asset holding its words anywhere (125-166 ms, every
request); this GIN index of replace(search_text, ' ', '') finds where the words meet
(i2v/lib/filters.py JoinedWordsContain). Built concurrently; nothing is dropped
(i2v/lib/migrations.py replace_indexes).
"""

from django.db import migrations

from i2v.lib.migrations import replace_indexes

NEW = {"asset_search_joined": "ON library_asset USING gin (replace(search_text, ' ', '') gin_trgm_ops)"}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("library", "0016_search_characters")]

    operations = [replace_indexes("library_asset", NEW, {})]
