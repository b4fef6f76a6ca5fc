"""Deleting many rows without loading them.

QuerySet.delete() loads every row that has a delete signal receiver or that
something cascades from (Django's Collector needs the objects to send
pre/post_delete and to find the rows that cascade), and sends one signal per
row: deleting a few pipelines with 2,000 steps each loaded every step and
output into memory and queued a cache write per row.

delete_rows() deletes by subquery instead, children first, one statement per
table, loading nothing. It follows each relation's on_delete (CASCADE, SET_NULL,
PROTECT/RESTRICT, DO_NOTHING) from the models themselves, so a model added later
that points at these rows is handled too. No signal is sent: callers invalidate
caches (once per owner) and record what they need themselves. No library does
this; Django's own fast path (_raw_delete) is what runs each statement.
"""

from django.db.models import CASCADE, DO_NOTHING, PROTECT, RESTRICT, SET_NULL, ProtectedError
from django.db.models.deletion import get_candidate_relations_to_delete


def delete_rows(queryset):
    """Delete the rows of `queryset` and every row that CASCADEs from them; the number of `queryset`'s rows deleted.

    Raises ProtectedError, deleting nothing more, when a PROTECT or RESTRICT
    relation still points at one of them. Run it inside a transaction.
    """
    model = queryset.model
    for relation in get_candidate_relations_to_delete(model._meta):
        field = relation.field
        on_delete = field.remote_field.on_delete
        if on_delete is DO_NOTHING:
            continue
        related = relation.related_model._base_manager.filter(**{f"{field.name}__in": queryset.values("pk")})
        if on_delete is CASCADE:
            delete_rows(related)
        elif on_delete is SET_NULL:
            related.update(**{field.name: None})
        elif on_delete in (PROTECT, RESTRICT):
            if related.exists():
                message = f"{related.model.__name__} rows still point at these {model.__name__} rows."
                raise ProtectedError(message, set())
        else:
            raise NotImplementedError(f"delete_rows() can't follow {field} (on_delete={on_delete.__name__})")
    return queryset._raw_delete(queryset.db)
