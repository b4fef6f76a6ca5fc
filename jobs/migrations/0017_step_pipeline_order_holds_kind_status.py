"""PostgreSQL only: a pipeline's step index holds each step's kind and status (issue 10).

Expanding a pipeline, its detail page and GET /api/pipelines/<id> count its steps by
kind and status (jobs/detail.py step_summary()). step_pipeline_order, on (pipeline,
order, id), found a 2,000-step pipeline's steps, then read each row for its kind and
status: 878 heap pages and 2.2 ms at a million pipelines, most of the 2,000-step
expansion's SQL. Holding both columns (INCLUDE), the index answers the count alone
(an index-only scan), and still orders a pipeline's steps as before.

The model declares the new definition; here, on PostgreSQL, the index is rebuilt under
its name, concurrently (i2v/lib/migrations.py rebuild_indexes). SQLite, which has no
INCLUDE, keeps the index it has, which is what Django would build there.
"""

from django.db import migrations, models

from i2v.lib.migrations import rebuild_indexes

BEFORE = {"step_pipeline_order": 'ON jobs_step USING btree (pipeline_id, "order", id)'}
AFTER = {"step_pipeline_order": 'ON jobs_step USING btree (pipeline_id, "order", id) INCLUDE (kind, status)'}


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0016_pipe_status_cost")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="step", name="step_pipeline_order"),
                migrations.AddIndex(
                    model_name="step",
                    index=models.Index(fields=["pipeline", "order", "id"], include=["kind", "status"], name="step_pipeline_order"),
                ),
            ],
            database_operations=[rebuild_indexes("jobs_step", AFTER, BEFORE)],
        )
    ]
