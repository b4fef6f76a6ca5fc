"""The work queue's run number (i2v/lib/workqueue.py WorkItem.run): which run holds a row, never counted back.

A column with a constant default and no CHECK: PostgreSQL adds it to the catalog alone, no rewrite, no scan.
SQLite remakes jobs_step to add it, dropping migration 0019's triggers that keep each pipeline's step count
with the old table: they are made again (0019's create_triggers(), which drops and creates each by name)."""

import importlib

from django.db import migrations, models

counts = importlib.import_module("jobs.migrations.0019_pipeline_counts")


def counted_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        counts.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0029_signature_always'),
    ]

    operations = [
        migrations.AddField(
            model_name='step',
            name='run',
            field=models.IntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(counted_again, migrations.RunPython.noop),
    ]
