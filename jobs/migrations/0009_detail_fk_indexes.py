"""Drop the single-column pipeline_id indexes of steps and outputs (CONCURRENTLY on PostgreSQL).

(pipeline, order, id) and (pipeline, position, id) serve every lookup by pipeline; beside them
the planner, which expects a couple of steps per pipeline, took the single-column index for a
2,000-step pipeline's first page and sorted all its rows (jobs/detail.py, docs/benchmarks.md).
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = (("jobs_step", "jobs_step_pipeline_id_42c6ce00"), ("jobs_output", "jobs_output_pipeline_id_ed7e2edf"))


def _concurrently(schema_editor):
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def drop(apps, schema_editor):
    for _, name in INDEXES:
        schema_editor.execute(f"DROP INDEX{_concurrently(schema_editor)} IF EXISTS {name}")


def create(apps, schema_editor):
    for table, name in INDEXES:
        schema_editor.execute(f"CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS {name} ON {table} (pipeline_id)")


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY can't run in a transaction

    dependencies = [("jobs", "0008_pipeline_expanding")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="step",
                    name="pipeline",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="steps", to="jobs.pipeline"
                    ),
                ),
                migrations.AlterField(
                    model_name="output",
                    name="pipeline",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="outputs", to="jobs.pipeline"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, create)],
        )
    ]
