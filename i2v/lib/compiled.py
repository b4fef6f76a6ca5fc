"""A list page's rows, and a detail's, loaded by key through SQL compiled once per process.

Building and compiling the Jobs rows' queryset (tags aggregated, counts and the
cover as correlated subqueries) costs about 2.5 ms of Python per request, more
than PostgreSQL takes to run it at a million pipelines (docs/benchmarks.md): the
biggest part of an uncached page's CPU. From one first page to the next only the
keys change, so the queryset is built and compiled once per rows function,
ordering, database and number of keys, with marker keys in it, and each page runs
that SQL with its own keys in the markers' places. Django has no prepared
querysets, and no package adds them; this is the least that does it.

A pipeline's detail is the same case: every expansion, detail page and API detail
reads the pipeline by its key, then the first page of its steps and of its outputs by
the pipeline's (`by=`, with a limit), and their assets by theirs; compiling those
querysets took most of a 5-step detail's CPU ("Sixteenth pass").

Rows come back as the model's instances, as the queryset would give them: each
column converted from the database's value by the converters the queryset's own
compiler would apply (a JSON field's, SQLite's dates), the fields it leaves out
deferred, the annotations as attributes. They are made the way Model.from_db() makes
them, less Model.__init__(): its pass over every field of the model, DEFERRED where
a column wasn't read, and its pre_init and post_init signals cost 9 µs a row, more
than the row's SQL (61 Library rows: 1.19 ms of CPU, 0.69 without them,
docs/benchmarks.md "Tenth pass"). The instance's dictionary is filled with the
attribute names and values Model.__init__() would have set; what it leaves unset is
deferred, as Django reads it. No receiver of those signals concerns these rows: the
only one connected, django-imagekit's, records the files of ImageSpecFields, which no
model here has (i2v/tests/test_compiled.py fails if another is connected to a model
loaded here: such a model's rows must come from its queryset).

On PostgreSQL the keys are one array parameter (`pk = ANY(%s)`), so one compilation serves
every number of keys above one, and psycopg adapts one value instead of one per key: 70-87 µs of
CPU a Library page's 61 keys, against 158-166 as `IN (%s, ...)` (docs/benchmarks.md,
"Twelfth pass"). SQLite, which has no arrays, takes them as `IN`, compiled per number of keys.
"""

import functools
import json

from django.db import connections
from django.db.models import F, JSONField, Lookup
from django.db.models.base import ModelState
from django.db.models.fields.json import KeyTransform

from .jsonout import loads

# Keys no table holds (primary keys are positive), each its own value, so that its place
# among the compiled parameters is unambiguous.
_MARKER = -(2**62)


def rows_by_keys(model, rows, ordering, keys, using, by="pk", limit=None):
    """`rows(queryset)` of the `model` rows whose primary keys are `keys`, in `ordering`
    (None: any order); or those whose field `by` is one of `keys`, the first `limit` of them.

    `rows` must add only what depends on nothing but the rows (columns, annotations of
    related rows, constant filters): its SQL is kept and reused for every request."""
    if not keys:
        return []
    names, found = _run(model, rows, ordering, keys, using, by, limit)
    if names is None:
        raise ValueError("the rows function selects values, not rows: use values_by_keys()")
    return [_instance(model, names, values, using) for values in found]


def values_by_keys(model, values, keys, using, by="pk"):
    """The tuples `values(queryset)` selects (a values_list(), grouped or not) of the `model`
    rows whose field `by` is one of `keys`, converted as the queryset would; compiled once
    as rows_by_keys() is."""
    return [tuple(row) for row in _run(model, values, None, keys, using, by, None)[1]]


def _run(model, rows, ordering, keys, using, by, limit):
    """(attribute names, or None for values; the rows' converted values) of rows_by_keys()."""
    if not keys:
        return None, []
    connection = connections[using]
    # One key is an equality (a one-item IN, which PostgreSQL reads as `=`): the index then
    # gives the rows in order, where `= ANY(array)` has them sorted, all of them before a
    # limit (a 2,000-step pipeline's first 21 steps: 4.2 ms against 0.1).
    count = None if connection.vendor == "postgresql" and len(keys) > 1 else len(keys)
    sql, params, slots, names, expressions = _compile(model, rows, ordering, count, using, by, limit)
    params = list(params)
    for slot, n in slots:
        params[slot] = list(keys) if n is None else keys[n]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    converters = _row_converters(connection, sql, expressions)
    return names, [_converted(values, converters, connection) for values in found]


CONVERTERS_HELD = 256  # statements per connection, as _compile() keeps them


def _row_converters(connection, sql, expressions):
    """[(column, its converters, its expression)] of the columns of statement `sql` that have
    any, found once per statement and connection object (each thread has its own): asking the
    backend and every column's field took 0.11 ms of a Library page's 17 columns."""
    kept = connection.__dict__.setdefault("_i2v_converters", {})
    if (converters := kept.get(sql)) is None:
        if len(kept) >= CONVERTERS_HELD:
            kept.clear()
        converters = kept[sql] = [(i, functions, e) for i, e in enumerate(expressions) if (functions := _converters(e, connection))]
    return converters


def _converters(expression, connection):
    # As SQLCompiler.get_converters() finds them: the backend's, then the field's; a JSON
    # field's read through orjson (_json_value()).
    found = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
    return [_json_value if _plain_json(convert) else convert for convert in found]


def _plain_json(convert):
    """Whether `convert` is a JSONField's from_db_value() with the standard decoder."""
    return getattr(convert, "__func__", None) is JSONField.from_db_value and convert.__self__.decoder is None


def _json_value(value, expression, connection):
    """JSONField.from_db_value(), the same values, through jsonout.loads(): a third of the
    CPU of a Library page's renditions (i2v/lib/jsonout.py)."""
    if value is None or isinstance(expression, KeyTransform) and not isinstance(value, str):
        return value
    try:
        return loads(value)
    except json.JSONDecodeError:
        return value


def _converted(values, converters, connection):
    if not converters:
        return values
    values = list(values)
    for i, functions, expression in converters:
        for convert in functions:
            values[i] = convert(values[i], expression, connection)
    return values


def _instance(model, names, values, using):
    """A `model` instance as Model.from_db() would make it of these columns, without __init__()."""
    row = model.__new__(model)
    row.__dict__.update(zip(names, values))
    state = row._state = ModelState()
    state.adding, state.db = False, using
    return row


class _AnyOf(Lookup):
    """lhs = ANY(rhs), rhs one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, self.rhs)


@functools.lru_cache(maxsize=256)  # bounded: a caller passing a new function each time can't grow it
def _compile(model, rows, ordering, count, using, by, limit):
    """(sql, params, [(param index, key index, or None for all the keys)], [attribute name],
    [expression]) for `count` keys (None: any number, as one array): the names and expressions
    are those of the selected columns, in their order."""
    manager = model._default_manager.db_manager(using)
    if count is None:
        marker = [_MARKER]
        keyed, markers = manager.filter(_AnyOf(F(by), marker)), {}
    else:
        markers = {_MARKER + n: n for n in range(count)}
        keyed, marker = manager.filter(**{f"{by}__in": list(markers)}), None
    selected = rows(keyed)
    if ordering is not None:
        selected = selected.order_by(*ordering.order_by())
    query = selected[:limit].query if limit is not None else selected.query
    compiler = query.get_compiler(using)
    sql, params = compiler.as_sql()
    # Every place a marker went (a rows function may use the keys more than once).
    slots = [(i, None) for i, p in enumerate(params) if p is marker]
    slots += [(i, markers[p]) for i, p in enumerate(params) if isinstance(p, int) and p in markers]
    if not slots or sorted({n for _, n in slots if n is not None}) != list(range(count or 0)):
        raise ValueError("the rows function dropped some of the keys from its query")
    expressions = [column for column, _, _ in compiler.select]
    if query.values_select:  # values() or values_list(): tuples, not instances
        return sql, tuple(params), slots, None, expressions
    if compiler.klass_info.get("related_klass_infos"):
        raise ValueError("the rows function selects related rows: load them through its queryset")
    names = [None] * len(compiler.select)
    for i in compiler.klass_info["select_fields"]:
        names[i] = compiler.select[i][0].target.attname
    for name, i in compiler.annotation_col_map.items():
        names[i] = name
    if None in names:
        raise ValueError("the rows function selects columns that are neither fields nor annotations")
    return sql, tuple(params), slots, names, expressions

