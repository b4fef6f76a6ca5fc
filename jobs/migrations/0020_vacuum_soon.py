"""PostgreSQL only: the pipeline, step and output tables are vacuumed soon after they change, whatever
their size (issue 10).

The detail counts a pipeline's steps from an index alone (0017), and the lists walk index entries that
hold what they test (0014): index-only scans, which still read the row of every entry whose page the
visibility map doesn't call all-visible, and only a vacuum sets that. The server's defaults vacuum a
table after 20 % of its rows are new or dead: 316,000 steps at 1.58 million, so the newest pipelines,
the ones people look at, stayed unvacuumed for days. A 2,000-step pipeline's summary read 2,000 rows
for it: 3.0 ms against 0.3 from the index alone (docs/benchmarks.md, twenty-fourth pass).

Now a vacuum follows every 1,000 new rows (one that finds no dead rows visits only the pages not
yet all-visible, through the visibility map) and every 1 % of rows dead (plus 1,000). Setting these storage
parameters takes SHARE UPDATE EXCLUSIVE: reads and writes go on; nothing is rewritten.
"""

from django.db import migrations

from i2v.lib.migrations import set_storage

SOON = {
    "autovacuum_vacuum_insert_threshold": 1000,
    "autovacuum_vacuum_insert_scale_factor": 0,
    "autovacuum_vacuum_threshold": 1000,
    "autovacuum_vacuum_scale_factor": 0.01,
}


class Migration(migrations.Migration):
    dependencies = [("jobs", "0019_pipeline_counts")]

    operations = [set_storage(table, **SOON) for table in ("jobs_pipeline", "jobs_step", "jobs_output")]
