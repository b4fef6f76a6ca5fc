"""PostgreSQL only: the asset table is vacuumed soon after it changes, whatever its size (issue 10).

The Library's walks test each index entry's kind, source, status and hidden flag (0008, 0009) in an
index-only scan, which still reads the row of every entry whose page the visibility map doesn't call
all-visible, and only a vacuum sets that. At the server's defaults (a vacuum after 20 % of the rows
are new or dead: 200,000 at a million assets) the newest assets, the Library's first pages, stayed
unvacuumed for days. Now a vacuum follows every 1,000 new rows and every 1 % dead (plus 1,000),
as for the pipeline tables (jobs 0020, which says why). No rewrite, no lock on reads or writes.
"""

from django.db import migrations

from i2v.lib.migrations import set_storage


class Migration(migrations.Migration):
    dependencies = [("library", "0012_search_text_statistics")]

    operations = [
        set_storage(
            "library_asset",
            autovacuum_vacuum_insert_threshold=1000,
            autovacuum_vacuum_insert_scale_factor=0,
            autovacuum_vacuum_threshold=1000,
            autovacuum_vacuum_scale_factor=0.01,
        )
    ]
