"""The tag_names triggers fire in replica mode too, and arrays left empty by it are filled.

seed_demo loads its COPYs with session_replication_role = replica to skip the
foreign-key checks (as pg_restore --disable-triggers does), which silenced these
triggers as well: a seeded database's pipelines had no tag names, so the tag
filter found none of them on PostgreSQL. ENABLE ALWAYS makes them fire whatever
the role; they only keep a column of the same row set in step, so a logical
replica applying link rows fills its arrays the same way (and idempotently).
"""

import importlib

from django.db import migrations

tag_names = importlib.import_module("jobs.migrations.0010_list_tag_names")

TRIGGERS = ("pipetag_names_added", "pipetag_names_removed")


def _alter(mode):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for name in TRIGGERS:
                schema_editor.execute(f"ALTER TABLE jobs_pipelinetag ENABLE {mode} TRIGGER {name}")

    return run


class Migration(migrations.Migration):
    atomic = False  # the backfill commits batch by batch

    dependencies = [("jobs", "0011_list_covering_indexes")]

    operations = [
        migrations.RunPython(_alter("ALWAYS"), _alter("")),
        migrations.RunPython(tag_names.backfill, migrations.RunPython.noop),
    ]
