"""Migration operations that don't lock a big table while they run.

`CREATE INDEX` blocks every write to its table until the index is built: minutes
at a million rows. PostgreSQL's `CREATE INDEX CONCURRENTLY` builds it while
writes go on, but can't run inside a transaction, so a migration using these
operations sets `atomic = False` (and holds nothing else that needs one).

Django's AddIndexConcurrently only exists for PostgreSQL; these do the same there
and a plain CREATE/DROP INDEX elsewhere, so the embedded SQLite default still
migrates. i2v/tests/test_migrations_safe.py fails on a migration that indexes an
existing table any other way.

    class Migration(migrations.Migration):
        atomic = False
        operations = [AddIndexSafely("pipeline", models.Index(fields=[...], name="..."))]
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


def _concurrently(schema_editor):
    return schema_editor.connection.vendor == "postgresql"


class AddIndexSafely(AddIndexConcurrently):
    """AddIndex, built CONCURRENTLY on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _concurrently(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _concurrently(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexSafely(RemoveIndexConcurrently):
    """RemoveIndex, dropped CONCURRENTLY on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if _concurrently(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if _concurrently(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
