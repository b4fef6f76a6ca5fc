"""PostgreSQL only: a trigram index so ?q= (search_text LIKE '%...%') is an index scan.

SQLite (the embedded default) has no such index type and small data; it skips this.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Jobs search: owner=? AND search_text LIKE '%q%' (used when the match is rare;
    # for common words the created_at index with a filter is faster, and the planner picks).
    "CREATE INDEX IF NOT EXISTS pipe_search_trgm ON jobs_pipeline USING gin (search_text gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS pipe_search_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
