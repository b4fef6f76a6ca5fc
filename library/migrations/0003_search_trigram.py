"""PostgreSQL only: a trigram index so the Library's ?q= (search_text LIKE '%...%') is an index scan.

SQLite (the embedded default) has no such index type and small data; it skips this.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Library search: owner=? AND search_text LIKE '%q%' (used when the match is rare;
    # for common words asset_owner_created with a filter is faster, and the planner picks).
    "CREATE INDEX IF NOT EXISTS asset_search_trgm ON library_asset USING gin (search_text gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS asset_search_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("library", "0002_search_and_filter_indexes")]
    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
