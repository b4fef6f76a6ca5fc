"""PostgreSQL only: extended statistics on the Library's filter columns (issue 10).

kind, source and processing_status depend on each other (videos come from
generation; uploads that failed are images), so the planner, multiplying their
selectivities as if independent, estimated "kind=video&source=upload" at 14,000
matches when there were none, and walked the whole (owner, kind, created_at)
index looking for a page of them: a second at a million assets. With the
combinations' frequencies it knows such a list is small and fetches its matches
once (i2v.lib.pagination.first_page). Statistics take no lock on writes.
"""

from django.db import migrations

CREATE = [
    "CREATE STATISTICS IF NOT EXISTS asset_filter_stats (dependencies, mcv)"
    " ON kind, source, processing_status FROM library_asset",
    "ANALYZE library_asset",
]
DROP = ["DROP STATISTICS IF EXISTS asset_filter_stats"]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    atomic = False  # ANALYZE of a big table needn't hold a transaction open

    dependencies = [("library", "0006_viewer_favorite_hidden")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
