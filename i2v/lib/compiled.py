"""A list page's rows loaded by primary key through SQL compiled once per process.

Building and compiling the Jobs rows' queryset (tags aggregated, counts and the
cover as correlated subqueries) costs about 2.5 ms of Python per request, more
than PostgreSQL takes to run it at a million pipelines (docs/benchmarks.md): the
biggest part of an uncached page's CPU. From one first page to the next only the
keys change, so the queryset is built and compiled once per rows function,
ordering, database and number of keys, with marker keys in it, and each page runs
that SQL through QuerySet.raw() with its own keys in the markers' places. Rows come
back as the model's instances with the same fields deferred and the annotations as
attributes, as the queryset would give them (raw() converts the model's columns
from the database's values; the annotations' converters, a JSON field's for one, are
applied here). Django has no prepared querysets, and no package adds them; this is
the least that does it.
"""

import functools

from django.db import connections

# Keys no table holds (primary keys are positive), each its own value, so that its place
# among the compiled parameters is unambiguous.
_MARKER = -(2**62)


def rows_by_keys(model, rows, ordering, keys, using):
    """`rows(queryset)` of the `model` rows whose primary keys are `keys`, in `ordering`.

    `rows` must add only what depends on nothing but the rows (columns, annotations of
    related rows): its SQL is kept and reused for every request."""
    if not keys:
        return []
    sql, params, slots, annotations = _compile(model, rows, ordering, len(keys), using)
    params = list(params)
    for slot, n in slots:
        params[slot] = keys[n]
    found = list(model._default_manager.db_manager(using).raw(sql, params))
    connection = connections[using]
    for name, expression in annotations:
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        for row in found:
            value = getattr(row, name)
            for convert in functions:
                value = convert(value, expression, connection)
            setattr(row, name, value)
    return found


@functools.lru_cache(maxsize=256)  # bounded: a caller passing a new function each time can't grow it
def _compile(model, rows, ordering, count, using):
    """(sql, params, [(param index, key index)], [(annotation, expression)]) for `count` keys."""
    markers = {_MARKER + n: n for n in range(count)}
    queryset = rows(model._default_manager.db_manager(using).filter(pk__in=list(markers)))
    query = queryset.order_by(*ordering.order_by()).query
    sql, params = query.get_compiler(using).as_sql()
    # Every place a marker went (a rows function may use the keys more than once).
    slots = [(i, markers[p]) for i, p in enumerate(params) if isinstance(p, int) and p in markers]
    if sorted({n for _, n in slots}) != list(range(count)):
        raise ValueError("the rows function dropped some of the keys from its query")
    return sql, tuple(params), slots, list(query.annotation_select.items())
