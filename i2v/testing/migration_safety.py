"""Find migration operations that would lock a big table, or rewrite it, while they run.

Every table that exists before a migration may hold millions of rows in production,
so an operation on one must not block its writes for longer than a moment. What
is flagged, and what to do instead:

- AddIndex / RemoveIndex / AlterIndexTogether on an existing table: CREATE/DROP
  INDEX blocks writes for the whole build; use i2v.lib.migrations.AddIndexSafely /
  RemoveIndexSafely in a migration with `atomic = False`.
- AddField of a stored generated column, or of a unique / indexed / foreign-key
  field: a table rewrite, or an index built under lock. Add the plain column,
  then the index concurrently (and a constraint NOT VALID, validated later).
- AlterField: may change the column's type (a rewrite) or add an index.
- AddConstraint, AlterUniqueTogether: a scan of the whole table under lock.
- RunSQL / RunPython: can't be read; review by hand and allow-list.
- SeparateDatabaseAndState: its database operations, by these same rules.
- A concurrent operation inside an atomic migration (PostgreSQL refuses it).

Tables created in the same migration are empty: anything goes on them.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import models
from django.db.migrations import operations as ops

INDEXED_FIELDS = (models.ForeignKey, models.OneToOneField)


def problems(migration):
    """[(operation index, description)] of the operations in `migration` that are unsafe at scale."""
    created = {op.name_lower for op in migration.operations if isinstance(op, ops.CreateModel)}
    found = []
    for n, op in enumerate(migration.operations):
        reason = _problem(op, created, migration.atomic)
        if reason:
            found.append((n, f"{type(op).__name__} {_target(op)}: {reason}"))
    return found


def _target(op):
    return getattr(op, "model_name", None) or getattr(op, "name", "") or ""


def _problem(op, created, atomic):
    if isinstance(op, ops.SeparateDatabaseAndState):
        # Its state operations touch no table; its database operations are what runs.
        return "; ".join(reason for inner in op.database_operations if (reason := _problem(inner, created, atomic))) or None
    if isinstance(op, (AddIndexConcurrently, RemoveIndexConcurrently)):
        return "a concurrent operation needs `atomic = False` on the migration" if atomic else None
    if isinstance(op, (ops.CreateModel, ops.DeleteModel, ops.AlterModelOptions, ops.RenameIndex)):
        return None  # a new (empty) table, a dropped one, or metadata only
    if (getattr(op, "model_name_lower", None) or getattr(op, "name_lower", None)) in created:
        return None  # a table made in this migration is empty: anything goes
    if isinstance(op, (ops.AddIndex, ops.RemoveIndex)):
        return "builds or drops an index while writes wait; use AddIndexSafely/RemoveIndexSafely (atomic = False)"
    if isinstance(op, ops.AddField):
        return _field_problem(op.field)
    if isinstance(op, (ops.AlterField, ops.AlterModelTable)):
        return "may rewrite the table (a type change) or build an index under lock; review and allow-list"
    if isinstance(op, (ops.AddConstraint, ops.AlterUniqueTogether, ops.AlterIndexTogether)):
        return "checks or indexes every row under lock; add it NOT VALID / concurrently"
    if isinstance(op, (ops.RunSQL, ops.RunPython)):
        return "can't be checked automatically; review it and allow-list it"
    return None


def _field_problem(field):
    if field.many_to_many:
        return None  # a new join table
    if isinstance(field, models.GeneratedField) and field.db_persist:
        return "a stored generated column rewrites the whole table under lock"
    if field.unique or field.primary_key:
        return "a unique column builds its index under lock"
    if isinstance(field, INDEXED_FIELDS) or field.db_index:
        return "an indexed column builds its index under lock; add the column, then AddIndexSafely"
    if not field.null and field.db_default is models.NOT_PROVIDED and field.default is models.NOT_PROVIDED:
        return "NOT NULL without a default fails on a table with rows"
    return None
