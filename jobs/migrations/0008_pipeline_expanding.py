from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely


class Migration(migrations.Migration):
    """Pipelines accepted before their steps are made (Pipeline.expanding)."""

    atomic = False  # the index is built concurrently

    dependencies = [("jobs", "0007_fresh_steps_priority")]

    operations = [
        # A constant database default: PostgreSQL adds the column without rewriting the table.
        migrations.AddField(
            model_name="pipeline", name="expanding", field=models.BooleanField(db_default=False, default=False)
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(condition=models.Q(("expanding", True)), fields=["id"], name="pipe_expanding"),
        ),
    ]
