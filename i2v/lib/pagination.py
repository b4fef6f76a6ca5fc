"""Keyset (cursor) pagination on a unique, indexed order. No OFFSET anywhere.

An Ordering names the fields a list is sorted by; its last field must be unique
(the primary key) so every row has exactly one place. A cursor is the sort-key
values of the row to continue from, signed so that a tampered or foreign cursor
is refused rather than silently returning the wrong page.
"""

import contextvars
import datetime
import decimal
import json
import math
import re
import time
from dataclasses import dataclass
from typing import NamedTuple

from django.core import signing
from django.db import connections, models
from django.db.models import Q
from django.utils import timezone

from .compiled import rows_by_keys
from .ids import ID_MAX

SALT = "i2v.cursor"


class CursorError(ValueError):
    pass


class RowCompare(models.Func):
    """(field, ...) < (value, ...), or another comparison `op`, as one SQL row comparison
    (PostgreSQL and SQLite), each value adapted as its field's."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, names, values, op):
        super().__init__(*(models.F(name) for name in names), *(models.Value(value) for value in values))
        self.op = op

    def resolve_expression(self, *args, **kwargs):
        resolved = super().resolve_expression(*args, **kwargs)
        expressions = resolved.get_source_expressions()
        columns, values = expressions[: len(expressions) // 2], expressions[len(expressions) // 2 :]
        typed = [models.Value(value.value, output_field=column.output_field) for column, value in zip(columns, values)]
        resolved.set_source_expressions([*columns, *typed])
        return resolved

    def as_sql(self, compiler, connection, **extra_context):
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, expression_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(expression_params)
        half = len(parts) // 2
        return f"({', '.join(parts[:half])}) {self.op} ({', '.join(parts[half:])})", params


@dataclass(frozen=True)
class Ordering:
    name: str
    fields: tuple  # ((field_name, descending), ...), the last one unique

    def order_by(self):
        return [("-" if desc else "") + name for name, desc in self.fields]

    def __post_init__(self):
        if len({desc for _, desc in self.fields}) != 1:
            raise ValueError(f"{self.name}: every field of an ordering goes the same way (after() seeks by one row comparison)")

    def after(self, values):
        """Rows strictly after `values` in this order.

        The database must seek straight to `values` in the order's index instead of
        scanning every row it skips, so that page 10,000 costs what page 1 does. That is
        one row comparison, (a, b) > (x, y), which an index on (..., a, b) seeks to
        whole, ties in a included. Written as a > x OR (a = x AND b > y), the index
        seeks by a alone, and a page deep among pipelines of one cost read every tie
        before it (the second page of a month sorted by cost at 1M pipelines: 741,002
        entries, 235 ms, against 0.2 ms).
        """
        return Q(RowCompare([name for name, _ in self.fields], values, "<" if self.fields[0][1] else ">"))

    def key_of(self, obj):
        return [getattr(obj, name) for name, _ in self.fields]

    def reversed(self):
        """This order read the other way, under its name (its cursors are this order's): a
        backward cursor's page is the first rows that follow the cursor in it (list_page())."""
        return Ordering(self.name, tuple((name, not desc) for name, desc in self.fields))


@dataclass
class Page:
    items: list
    page_size: int
    has_next: bool
    next_cursor: str | None
    has_previous: bool
    prev_cursor: str | None


class Total(NamedTuple):
    """How many rows a list's filters match, as a first page knows it: counted (exact), the
    planner's estimate ("about 950,000"), or, when a fetch passed the bound it was allowed
    (first_page(): the planner had guessed a few dozen for tens of thousands), a floor the
    matches reach ("more than 1,000"): the fetch stopped counting there, and no estimate
    was left worth showing."""

    count: int
    is_estimate: bool = False
    at_least: bool = False  # count is a floor (and is_estimate True): the matches are count or more

    def text(self, noun):
        """"1 pipeline", "about 950,000 assets", "more than 1,000 pipelines"."""
        if self.at_least:
            return f"more than {self.count - 1:,} {noun}s"
        return f"{'about ' if self.is_estimate else ''}{self.count:,} {noun}{'' if self.count == 1 else 's'}"


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_signer = signing.Signer(salt=SALT)


def _dump(value):
    # Compact and exact: instants as integer microseconds, decimals as strings.
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _load(field, value):
    # No column holds what is refused here, and a query comparing one with it fails: a signed cursor is
    # the server's, but a secret that leaked would make one (a name with a NUL or a lone surrogate, which no
    # database's text encodes, a cost of 1e999999).
    if value is not None and not isinstance(value, (str, int)):
        raise ValueError("not a key")
    if isinstance(value, int) and not -ID_MAX - 1 <= value <= ID_MAX:
        raise ValueError("past a bigint")
    if isinstance(value, str) and ("\x00" in value or not value.isascii() and not _encodes(value)):
        raise ValueError("no text a column holds")
    if isinstance(field, models.DateTimeField):
        if not isinstance(value, int):
            raise ValueError("not an instant")
        return EPOCH + datetime.timedelta(microseconds=value)
    loaded = field.to_python(value)
    if loaded is not None:
        field.run_validators(loaded)  # a decimal's digits, a text's length
    return loaded


def _encodes(text):
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def encode_cursor(model, ordering, values, backwards=False):
    """A signed cursor to the rows of `model`'s list after `values` in `ordering`: it names its list (the
    model) and its order, so that no other list, or order, takes it."""
    data = {"t": model._meta.label_lower, "o": ordering.name, "k": [_dump(v) for v in values]}
    if backwards:
        data["b"] = 1
    return _signer.sign_object(data)


def decode_cursor(model, ordering, cursor):
    try:
        data = _signer.unsign_object(cursor)
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise CursorError("The cursor is invalid or was altered; start again from the first page.") from None
    if not isinstance(data, dict) or data.get("t") != model._meta.label_lower:
        raise CursorError("The cursor belongs to another list; start again from the first page.")
    if data.get("o") != ordering.name:
        raise CursorError("The cursor belongs to a different sort order; start again from the first page.")
    raw = data.get("k")
    if not isinstance(raw, list) or len(raw) != len(ordering.fields):
        raise CursorError("The cursor is malformed.")
    try:
        values = [_load(model._meta.get_field(name), v) for (name, _), v in zip(ordering.fields, raw)]
    except Exception:
        raise CursorError("The cursor is malformed.") from None
    return values, bool(data.get("b"))


def paginate(queryset, ordering, cursor=None, page_size=50):
    """One page of `queryset` in `ordering`, starting after `cursor`.

    Costs exactly one query: it fetches page_size + 1 rows and uses the extra
    row only to learn whether there is a next page.
    """
    backwards = False
    qs = queryset
    if cursor:
        values, backwards = decode_cursor(queryset.model, ordering, cursor)
        qs = qs.filter(_read_in(ordering, backwards).after(values))
    rows = list(qs.order_by(*_read_in(ordering, backwards).order_by())[: page_size + 1])
    return _page(queryset.model, rows, ordering, page_size, bool(cursor), backwards)


def _read_in(ordering, backwards):
    """The order a page is read in: `ordering`, or reversed for a backward cursor's page (its rows
    are the first that follow the cursor in it)."""
    return ordering.reversed() if backwards else ordering


def paginate_by(model, rows, by, key, ordering, cursor=None, page_size=50):
    """paginate() of `rows(queryset)` of the `model` rows whose field `by` is `key` (a pipeline's
    steps, its outputs). The first page, which every detail reads, comes through SQL compiled
    once (i2v/lib/compiled.py): building and compiling its queryset cost more CPU than
    PostgreSQL spent running it (docs/benchmarks.md, "Sixteenth pass")."""
    if cursor:
        return paginate(rows(model._default_manager.filter(**{by: key})), ordering, cursor, page_size)
    found = rows_by_keys(model, rows, ordering, [key], model._default_manager.db, by=by, limit=page_size + 1)
    return _page(model, found, ordering, page_size)


def _page(model, rows, ordering, page_size, after_cursor=False, backwards=False, more=None):
    """The Page of `rows` of `model`, fetched in `ordering` (reversed when going backwards) with one
    row more than a page, to learn whether there is a next one (unless `more` says)."""
    more = len(rows) > page_size if more is None else more
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
        has_previous, has_next = more, True
    else:
        has_previous, has_next = after_cursor, more
    return Page(
        items=rows,
        page_size=page_size,
        has_next=has_next and bool(rows),
        next_cursor=encode_cursor(model, ordering, ordering.key_of(rows[-1])) if has_next and rows else None,
        has_previous=has_previous and bool(rows),
        prev_cursor=encode_cursor(model, ordering, ordering.key_of(rows[0]), backwards=True)
        if has_previous and rows
        else None,
    )


def pagination_json(page, total=None):
    """The "pagination" object every JSON list returns; `total` a Total, or None (no count:
    a cursor's page). total_is_lower_bound: the matches are total_count or more (Total.at_least)."""
    return {
        "page_size": page.page_size,
        "has_next": page.has_next,
        "next_cursor": page.next_cursor,
        "has_previous": page.has_previous,
        "prev_cursor": page.prev_cursor,
        "total_count": None if total is None else total.count,
        "total_is_estimate": total is not None and total.is_estimate,
        "total_is_lower_bound": total is not None and total.at_least,
    }


def list_page(filtered, rows, ordering, cursor, page_size, keyset_forward=False, **choices):
    """(page, total) of a list at `cursor`: its first page with its total (first_page(),
    which `choices` are for) when there is none.

    A cursor's page, on PostgreSQL, is found the way a first page is, among the rows that
    follow the cursor (first_page(after=)), and has no total: infinite scroll shows none.
    A backward cursor's (the API's prev_cursor) is found so in the reversed order
    (first_page(backwards=)). A plain LIMIT after the cursor is the planner's walk of the
    order's index, testing the filters on every row it meets, however far: the second page
    of a week sorted by cost took 760 ms of SQL that way at a million pipelines, 6 ms so
    (bench/lists.py --second); a backward page of "neon portrait", 128 ms and 11 (--back). That walk is the
    page, in one statement, where every row it meets is a match: the list is `among`
    itself, read in order (the newest visible pipelines, or with a status). Those, a forward
    cursor's page where the list says it meets its matches soon after one (`keyset_forward`),
    and any on SQLite, are paginate()'s."""
    if not cursor:
        return first_page(filtered, rows, ordering, page_size, **choices)
    values, backwards = decode_cursor(filtered.model, ordering, cursor)
    if connections[filtered.db].vendor != "postgresql" or keyset_forward and not backwards or _every_row_matches(filtered, choices):
        return paginate(rows(filtered), ordering, cursor, page_size), None
    return first_page(filtered, rows, ordering, page_size, after=values, backwards=backwards, **choices)[0], None


def _every_row_matches(filtered, choices):
    """Whether the list is first_page()'s `among` itself, read in order (list_page())."""
    among = choices.get("among")
    return among is not None and choices.get("among_in_order", True) is True and _pk_sql(among) == _pk_sql(filtered)


def planner_rows(queryset, reuse=False):
    """PostgreSQL's estimate of how many rows `queryset` matches (planner_estimate())."""
    return _estimated(queryset, reuse)[0]


ESTIMATES_KEPT = 60  # seconds
ESTIMATES_HELD = 1000  # at most, then forgotten at once
_estimates = {}  # (what, database, sql, params): (rows or (rows, cost), monotonic time it is kept until)


def _memo_key(queryset):
    """(database, sql, params) naming `queryset`'s rows in _estimates, made once per queryset
    object as _pk_sql() is: a first page's estimate and what it found both look it up."""
    key = queryset.__dict__.get("_i2v_memo_key")
    if key is None:
        sql, params = _pk_sql(queryset)
        key = queryset.__dict__["_i2v_memo_key"] = (queryset.db, sql, tuple(params))
    return key


def _recalled(key):
    """What this process kept under `key` in the last ESTIMATES_KEPT seconds, or None."""
    kept = _estimates.get(key)
    return None if kept is None or kept[1] < time.monotonic() else kept[0]


def _keep(key, value):
    if len(_estimates) >= ESTIMATES_HELD:
        _estimates.clear()
    _estimates[key] = (value, time.monotonic() + ESTIMATES_KEPT)
    return value


def reused(key, filters, build):
    """build(), or what it gave in this process in the last ESTIMATES_KEPT seconds for the same
    `key` (a list and its owner, the database, its order) and `filters` (a dict): a list's
    querysets. What they are depends on nothing else but the planner's estimates, kept as long
    (filters.py chooses by them), and the time zone a date filter's days are read in;
    building them and compiling their SQL cost a tenth to a sixth of an uncached list
    request's CPU (docs/benchmarks.md, "Twenty-third pass"), and a kept queryset keeps its
    compiled SQL too (_pk_sql()). The lists never evaluate these querysets, only clones of
    them and their SQL: one found evaluated (its rows of that moment held) is built again."""
    key = ("built", *key, timezone.get_current_timezone_name(), *sorted(filters.items()))
    kept = _recalled(key)
    if kept is None or any(isinstance(q, models.QuerySet) and q._result_cache is not None for q in kept):
        kept = _keep(key, build())
    return kept


def planner_estimate(queryset, reuse=False):
    """(rows, cost): PostgreSQL's estimate of how many rows `queryset` matches, and of what
    fetching them all costs, in the planner's units (one EXPLAIN, well under a millisecond).

    reuse: this process's answer of the last ESTIMATES_KEPT seconds to the same SQL is taken.
    The planner's view of a set of rows moves only with ANALYZE and the table's growth in
    pages (a delete shrinks it only once vacuum has run), so a minute more of it is no news:
    an estimate chooses how a list is read, where a stale one costs some speed, never a wrong
    row, and a total shown from it is "about" that many, the matches counted whenever there
    are few. It spares a round trip and the planning: 0.5 ms of a word searched in a week, and
    the EXPLAIN of every uncached first page after the first of the minute."""
    return _estimated(queryset, reuse)


def _estimated(queryset, reuse):
    if not reuse:
        return _explained(queryset.db, *_estimate_sql(queryset))
    key = ("planned", *_memo_key(queryset))
    kept = _recalled(key)
    return _keep(key, _explained(queryset.db, *_estimate_sql(queryset))) if kept is None else kept


# True while a statement is compiled for the planner's estimate (_estimate_sql()): a condition that
# only repeats what another of the statement's implies, for an index to find the rows by, is TRUE
# there (an `implied` one: filters.py's IndexedCondition). The planner multiplies conditions'
# estimates as if they were independent, and would put the rows at a fraction of those the
# statement's own conditions match.
estimating = contextvars.ContextVar("i2v_estimating", default=False)
# True while a walk's tests are compiled (_walk_test_sql()): a condition written as an index reads it
# compiles as a walk tests it on each entry or row it reads, where that is cheaper (an IndexedCondition
# with `walked` SQL: a tag as `= ANY` of the array, not the GIN index's `@>`).
walking = contextvars.ContextVar("i2v_walking", default=False)


def _estimate_sql(queryset):
    """(sql, params) of `queryset`'s primary keys as the planner is asked to estimate them: _pk_sql(),
    compiled again without its implied conditions where it has one."""
    if not holds_implied(queryset):
        return _pk_sql(queryset)
    return _without_implied(lambda: _sql(queryset.order_by().values("pk")))


def holds_implied(queryset):
    """Whether `queryset` has an implied condition (see `estimating`): the planner, which takes it
    for independent of the condition implying it, plans such a statement for a fraction of its rows."""
    return _holds_implied(queryset.query.where)


def _holds_implied(node):
    """Whether a WHERE tree holds an implied condition (compared with True, as filter() puts one)."""
    return any(
        _holds_implied(child) if hasattr(child, "children") else getattr(getattr(child, "lhs", child), "implied", False)
        for child in node.children
    )


def _pk_sql(queryset):
    """(sql, params) selecting `queryset`'s primary keys, unordered, compiled once per queryset
    object (_compiled_once()): a first page's estimate and its keys in order (_keys_in_order())
    share it, which spares an uncached page one compilation of its filters by the ORM (130 µs of
    CPU, measured)."""
    return _compiled_once(queryset, "pk", lambda: _sql(queryset.order_by().values("pk")))


def _compiled_once(queryset, key, compile):
    """compile() of `queryset`, made once per queryset object under `key`: a queryset's filters
    can't change after it is made (each filter() makes another), and a list's querysets are kept
    a minute (reused()), so each of its statements is compiled by the ORM once a minute, not once
    a request: a walk's three (its filters', among's, tested's) took a fifth of an uncached walked
    page's CPU (docs/benchmarks.md, "Thirty-seventh pass"). Never under `estimating`, which
    compiles some conditions otherwise."""
    memo = queryset.__dict__.setdefault("_i2v_compiled", {})
    if key not in memo:
        memo[key] = compile()
    return memo[key]


def _explained(alias, sql, params):
    with connections[alias].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return int(plan["Plan Rows"]), plan["Total Cost"]


def matching_keys(filtered, ordering, limit, counted_up_to=1000, through=None, after=None, up_to=None):
    """(keys, total): the primary keys of the first `limit` rows of `filtered` in
    `ordering`, and how many rows match, in one statement.

    up_to (PostgreSQL): fetch no more than this many matches and one; when there are more,
    the total is up_to + 1 and the keys are none (what was fetched is no prefix of the order).

    after: a cursor's values: only the matches that follow it are taken (the total still
    counts them all).

    through: (among, tested, among_in_order) as walked_keys() takes them, to fetch the
    matches from all of `among`'s index entries, tested there, and the table's rows of
    those that pass (_read_through()), instead of the planner's choice.

    On PostgreSQL the matches are fetched in a MATERIALIZED common table expression,
    a fence, so they are planned as a whole (the filters' indexes, intersected) and
    then sorted, and counted from what was fetched: the total costs no second scan.
    Without the fence a LIMIT tempts the planner into walking the order's index and
    filtering row by row, hoping to stop early: with a rare or correlated filter
    that walk reads most of the table (a week of dates sorted by cost read 740,000
    rows for 21). SQLite fetches up to `counted_up_to` + 1 keys and counts past them.
    """
    if connections[filtered.db].vendor != "postgresql":
        filtered = _cut(filtered, ordering, after)
        keys = list(filtered.order_by(*ordering.order_by()).values_list("pk", flat=True)[: max(limit, counted_up_to + 1)])
        return keys[:limit], (len(keys) if len(keys) <= counted_up_to else filtered.count())
    sql, params, columns, order = _keys_sql(filtered, ordering)
    # Read through among's entries, each row is found by key, as a walk finds it: tested as a walk tests it.
    if through is not None and (read := _read_through(filtered, ordering, *_row_test_sql(filtered, ordering), columns, None, *through, after)) is not None:
        sql, params, _ = read
    following, following_params = _following(filtered, ordering, columns, after)
    bounded, bound_params = (" LIMIT %s", (up_to + 1,)) if up_to is not None else ("", ())
    with connections[filtered.db].cursor() as cursor:
        # The count is a row of its own, so it comes even when no match follows the cursor.
        cursor.execute(
            f"WITH matches ({', '.join(columns)}) AS MATERIALIZED ({sql}{bounded}) "
            f"SELECT page.{columns[-1]}, total.n FROM (SELECT count(*) AS n FROM matches) AS total LEFT JOIN LATERAL "
            f"(SELECT * FROM matches{f' WHERE {following}' if following else ''} ORDER BY {order} LIMIT %s) AS page ON true "
            f"ORDER BY {order}",
            (*params, *bound_params, *following_params, limit),
        )
        rows = cursor.fetchall()
    total = rows[0][1]
    if up_to is not None and total > up_to:
        return [], total
    return [row[0] for row in rows if row[0] is not None], total


def _following(filtered, ordering, columns, after):
    """(SQL, params) of "the order's `columns` come after the cursor's values `after`" (empty
    when None): a condition on fetched matches, outside their fence. Inside it the planner
    would price the row comparison by its first column alone (a million pipelines of cost 0
    after (0, 917,462) taken for 1) and seek the order's index to read 917,274 entries for
    the 186 matches of a tag and a model."""
    if after is None:
        return "", ()
    connection = connections[filtered.db]
    fields = [filtered.model._meta.get_field(name) for name, _ in ordering.fields]
    values = [field.get_db_prep_value(value, connection) for field, value in zip(fields, after)]
    op = "<" if ordering.fields[0][1] else ">"
    return f"({', '.join(columns)}) {op} ({', '.join(['%s'] * len(columns))})", values


def _row_test_sql(filtered, ordering):
    """(sql, params) selecting the order's columns of `filtered`, unordered, as a walk, and a fetch through
    among's entries, test each row they read: its implied conditions left out (compiled as for the planner's
    estimate) and the others as a walk tests them (_walk_test_sql()). An implied condition is there for an
    index to find the rows by; a walk finds them along the order's, and on a row it only repeats what
    another condition tests ("neon portrait" joined, 38 calls of replace() a row: 0.27 ms of a 3.5 ms
    walk at a million assets, docs/benchmarks.md "Forty-ninth pass")."""
    return _walk_test_sql(filtered, ordering, implied=False)


def _walk_test_sql(queryset, ordering, implied=True):
    """(sql, params) selecting the order's columns of `queryset`, unordered, compiled (once) under `walking`:
    its conditions as a walk tests them on each index entry (`tested`'s) or row it reads, which no index
    serves. A tag's `@>`, there for the GIN indexes, costs 55 ns an entry where `= ANY` costs 22 (a tag
    with a word by cost at a million pipelines tests 10,148 entries: 0.33 ms of its walk, docs/benchmarks.md
    "Fiftieth pass"). `implied` False: without its implied conditions (_row_test_sql())."""
    names = [name for name, _ in ordering.fields]

    def compile():
        token = walking.set(True)
        try:
            return _sql(queryset.order_by().values_list(*names))
        finally:
            walking.reset(token)

    key = ("walk test" if implied else "row test", *names)
    return _compiled_once(queryset, key, compile if implied else lambda: _without_implied(compile))


def _without_implied(compile):
    """compile(), the implied conditions compiled as TRUE (see `estimating`)."""
    token = estimating.set(True)
    try:
        return compile()
    finally:
        estimating.reset(token)


def _keys_sql(filtered, ordering):
    """(sql, params, columns, order) selecting the order's columns of `filtered`, unordered."""
    names = [name for name, _ in ordering.fields]
    sql, params = _compiled_once(filtered, ("keys", *names), lambda: _sql(filtered.order_by().values_list(*names)))
    columns = [f"k{n}" for n in range(len(names))]
    order = ", ".join(f"{c} {'DESC' if desc else 'ASC'}" for c, (_, desc) in zip(columns, ordering.fields))
    return sql, params, columns, order


@dataclass(frozen=True)
class DateRuns:
    """The UTC days `first` to `last` of a model's `day_of` field, or the UTC months they lie in
    (`months`), where an index holds each day's (or month's) rows in a list's order (jobs migration
    0015: each day's pipelines by cost, the day being the index's expression; 0034: each month's): a
    date range read in that order, one run at a time."""

    first: datetime.date
    last: datetime.date
    day_of: str = "created_at"
    months: bool = False

    def starts(self):
        """The first day of each run, in order."""
        if not self.months:
            return [self.first + datetime.timedelta(days=n) for n in range((self.last - self.first).days + 1)]
        first = self.first.year * 12 + self.first.month - 1
        return [datetime.date(n // 12, n % 12 + 1, 1) for n in range(first, self.last.year * 12 + self.last.month)]

    def __len__(self):
        if not self.months:
            return max((self.last - self.first).days + 1, 0)
        return max((self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1, 0)

    def run_sql(self, queryset):
        """The index's expression of the run of a row of `queryset`'s table, quoted for its database."""
        quote = connections[queryset.db].ops.quote_name
        column = queryset.model._meta.get_field(self.day_of).column
        instant = f"{quote(queryset.model._meta.db_table)}.{quote(column)} AT TIME ZONE 'UTC'"
        return f"date_trunc('month', {instant})" if self.months else f"({instant})::date"

    def merged(self, run, table, read, order_by):
        """SQL of the rows of `table` (quoted) in these runs (`run`: run_sql()), the columns `read` (the
        table's, quoted), as each run's in `order_by` (the table's ORDER BY terms), one after
        another: ordered the same way and limited, PostgreSQL's Merge Append reads them from
        each run of the index and stops at the limit, where the range's rows would otherwise be
        read whole and sorted (a week's 9,134 entries by cost: 7.4 ms, merged 1.4 ms). Each
        run is ordered in its own arm: the planner keeps an arm's ordered index scan only for
        an order the arm asks for. The runs are written in (dates: nothing to escape), so
        that the statement's parameters are those of what applies to all of them."""
        selected = ", ".join(f"{table}.{column}" for column in read)
        kind = "TIMESTAMP" if self.months else "DATE"
        return " UNION ALL ".join(
            f"(SELECT {selected} FROM {table} WHERE {run} = {kind} '{start.isoformat()}' ORDER BY {order_by})" for start in self.starts()
        )


def merged_by_day(filtered, ordering, limit, days, among=None, length=0, after=None):
    """The primary keys of the first `limit` rows of `filtered` in `ordering`, in one statement
    (PostgreSQL): each day's first `limit` of `days` (DateRuns), merged.

    For a date range in an order no index reads it in (sorted by cost), where an index holds
    each day's rows in the order: a page from each of a year's 365 days, 7,665 entries,
    instead of the year's 481,675 rows. Every row of `filtered` must lie on one of those days;
    its filters are tested on each day's entries as they come, so they should be few there (the
    range itself, the hidden ones), or a day's page reads the day.

    With `among` (rows that hold every row of `filtered`, which an index reads in the order: the
    owner's by cost) and a `length`, the first `length` of among that follow the cursor's values
    `after` (if any) are walked first, testing `filtered`'s conditions on each, and the days are
    merged only where that walk falls short, in the same statement: a range that holds many of
    among's rows meets its page within a few pages of among, where each of its days costs a
    descent of the days' index (a year by cost at a million pipelines: 365 descents, 4.3 ms,
    against a walk of 126 entries; first_page(), DAY_ENTRIES)."""
    sql, params, columns, order = _keys_sql(filtered, ordering)
    table, _, order_by = _table_order(filtered, ordering)
    if not _plain(sql) or sql.count(" WHERE ") != 1 or days.months:
        raise ValueError("merged_by_day() takes plain filters of one table, and days")
    names = ", ".join(columns)
    merged = (
        f"SELECT {names} FROM (SELECT (%s::date + i) AS day FROM generate_series(0, %s) AS i) AS days "
        f"CROSS JOIN LATERAL ({sql} AND {days.run_sql(filtered)} = days.day ORDER BY {order_by} LIMIT %s) AS m ({names})"
    )
    merged_params = (days.first, len(days) - 1, *params, limit)
    read = _read_through(filtered, ordering, *_row_test_sql(filtered, ordering), columns, length, among, None, True, after) if length else None
    if read is not None:
        # The walk's page where it holds `limit` rows (those are then the first in the order); the merge only
        # where it doesn't: a condition of no row's, the planner runs that arm only when it holds.
        walk, walk_params, _ = read
        merged = (
            f"WITH walk AS MATERIALIZED (SELECT * FROM ({walk}) AS w ({names}) ORDER BY {order} LIMIT %s) "
            f"SELECT * FROM walk WHERE (SELECT count(*) FROM walk) = %s "
            f"UNION ALL ({merged} WHERE (SELECT count(*) FROM walk) < %s)"
        )
        merged_params = (*walk_params, limit, limit, *merged_params, limit)
    with connections[filtered.db].cursor() as cursor:
        cursor.execute(f"SELECT {columns[-1]} FROM ({merged}) AS found ORDER BY {order} LIMIT %s", (*merged_params, limit))
        return [row[0] for row in cursor.fetchall()]


def _sql(queryset):
    """(sql, params) of `queryset`, compiled for the database it reads."""
    return queryset.query.get_compiler(queryset.db).as_sql()


def _plain(sql):
    """Whether compiled `sql` selects from one table with filters alone, so that an ORDER BY
    and a LIMIT, or a condition, can be appended to it."""
    return not any(f" {word} " in sql for word in ("JOIN", "GROUP BY", "ORDER BY", "LIMIT", "DISTINCT"))


def _table_order(queryset, ordering):
    """(table, the order's columns, its ORDER BY terms naming them by table), quoted for `queryset`'s database."""
    quote = connections[queryset.db].ops.quote_name
    table = quote(queryset.model._meta.db_table)
    by = [quote(queryset.model._meta.get_field(name).column) for name, _ in ordering.fields]
    return table, by, _order_terms([f"{table}.{column}" for column in by], ordering)


def _order_terms(columns, ordering):
    """ORDER BY terms of `columns` (SQL naming the order's fields' columns) in `ordering`'s directions."""
    return ", ".join(f"{column} {'DESC' if desc else 'ASC'}" for column, (_, desc) in zip(columns, ordering.fields))


def _rows_after(sql, source, condition=""):
    """The rows `sql` (compiled, its one table at `source`, " FROM table ") reads, as SQL to follow a
    FROM: that table with `sql`'s conditions, and `condition` (if any) too."""
    rows = f"{source[len(' FROM '):]}{sql.split(source, 1)[1]}"
    if not condition:
        return rows
    return rows + (f" AND {condition}" if " WHERE " in f" {rows}" else f" WHERE {condition}")


# A walk takes `among` to hold more rows than it may read where the planner expects this many times as many.
AMONG_SURELY_LONGER = 2


def walked_keys(filtered, among, ordering, limit, length, tested=None, among_in_order=True, fetched=True, after=None, among_rows=None):
    """The primary keys of the first `limit` rows of `filtered` in `ordering` (PostgreSQL): a
    bounded walk, and only if it falls short, the fenced fetch, a second statement. Planned in the
    walk's, the fetch cost every page its walk found 0.2-0.3 ms of planning ("neon portrait" at a
    million assets: 3.2 ms, 3.0 without; docs/benchmarks.md, "Forty-ninth pass"), where a walk that
    falls short, having read `length` rows in vain, is the dear case already.

    The walk reads the first `length` rows of `among` (rows that include every
    match: the owner's, narrowed by the filters an index serves in this order) and
    applies the filters to them as they come,
    stopping at the `limit`-th match. Those are the first rows in the order, so when
    they hold `limit` matches those are exactly the right ones, whatever the ties in
    the order's first column; when `among` had no more rows to read, they are all there
    is (a week's last page, after a cursor: its fetch took 5.6 ms more at a million
    pipelines, to find again the 18 the walk had found; `among_rows`, the planner's estimate
    of among's rows, says when not to ask: see AMONG_SURELY_LONGER). Only when neither holds (a
    rare combination, or one whose matches are all old) does the fenced fetch of
    matching_keys() run, after at most `length` rows of walk (`fetched` False: the
    planner's plain LIMIT instead, for matches too many to fetch and sort, see
    _first_keys()). A filter count estimated in the thousands can then cost a page's
    worth of rows when its matches are spread evenly (a common word with favourites),
    and never a walk through the table when they are not.

    `among_in_order` False says no index reads `among` in this order (a short date
    range, sorted by cost): its rows are then read whole and sorted, behind a fence.
    Otherwise the planner, taking the order's first column for independent of the
    range, would walk the order's index hoping to meet the range's rows soon (a week
    sorted by cost read 740,000 entries for 21, 119 ms). A DateRuns instead: an index holds
    each of those days' (or months') rows in the order, and the walk reads them merged (DateRuns.merged()),
    as far as it must. Either way a walk that falls short is followed by the fetch.

    `tested`, when given, is `among` narrowed by filters whose columns the order's
    index holds (and that `filtered` applies too): the walk then reads `among` from
    that index alone and tests them there, and reads the table's rows only for those
    that pass. Otherwise every row walked is read from the table, the costly part of
    a walk: pending pipelines by cost with a word read 10,846 rows for 292 pending
    ones (6.8 ms; 3.9 ms so).

    The walk is a subquery in FROM named like the table, so the filters' SQL, which
    names the table's columns, applies to it unchanged (less its implied conditions:
    _row_test_sql()); a query with a join (none of
    the lists' filters has one on PostgreSQL) takes the fenced fetch. It selects only
    the columns that SQL names: every row it reads is otherwise formed whole, which
    cost a fifth of a 10,000-row walk (measured: 5.4 ms against 4.5 ms).
    """
    sql, params, columns, order = _keys_sql(filtered, ordering)
    read = _read_through(filtered, ordering, *_row_test_sql(filtered, ordering), columns, length, among, tested, among_in_order, after)
    if read is None:
        if not fetched:
            return _keys_in_order(filtered, ordering, limit, after)
        return matching_keys(filtered, ordering, limit, after=after)[0]
    walk, walk_params, (readable, readable_params) = read
    names = ", ".join(columns)
    fence = " OFFSET 0" if fetched else ""
    following, following_params = _following(filtered, ordering, columns, after)
    if among_rows is not None and among_rows >= AMONG_SURELY_LONGER * length and among.model is filtered.model:
        # Counting among's rows up to `length` reads as many index entries as the walk did
        # (3.5 ms for 12,425 videos at a million assets, after a walk in vain of 3.9): where
        # the planner expects among to hold far more (`among_rows`, its estimate), it is taken
        # to, and a walk that falls short is followed by the fetch, right whatever among holds.
        # Links (_read_through_links()) are counted all the same: their walk read a row for each link, their count
        # reads the entries alone (about a tenth of the walk's cost), and the planner takes the links' own columns
        # tested for independent of their key ("neon portrait"'s links with the uploads' facets: 918 expected,
        # none there; counted in 1 ms where the fetch took 30, and 400 in a process's first minute, its pages cold).
        counted, counted_params = "SELECT %s AS n", (length,)
    else:
        counted, counted_params = f"SELECT count(*) AS n FROM ({readable} LIMIT %s) AS r", (*readable_params, length)
    with connections[filtered.db].cursor() as cursor:
        # The walk, and only where it falls short, how many rows it could read (the row with no key).
        cursor.execute(
            f"WITH walk AS MATERIALIZED (SELECT * FROM ({walk}) AS w ({names}) ORDER BY {order} LIMIT %s), "
            f"readable AS MATERIALIZED ({counted}) "
            f"SELECT * FROM (SELECT *, NULL AS n FROM walk UNION ALL SELECT {', '.join('NULL' for _ in columns)}, n FROM readable "
            f"WHERE (SELECT count(*) FROM walk) < %s) AS found ORDER BY {order}",
            (*walk_params, limit, *counted_params, limit),
        )
        found = cursor.fetchall()
        could_read = next((row[-1] for row in found if row[-1] is not None), None)
        if could_read is None or could_read < length:
            return [row[-2] for row in found if row[-1] is None]
        cursor.execute(
            f"SELECT {columns[-1]} FROM ({sql}{fence}) AS m ({names}){f' WHERE {following}' if following else ''} "
            f"ORDER BY {order} LIMIT %s",
            (*params, *following_params, limit),
        )
        return [row[0] for row in cursor.fetchall()]


def _read_through(filtered, ordering, sql, params, columns, length, among, tested, among_in_order, after=None):
    """(sql, params, (readable, its params)) selecting the order's columns of `filtered` (`sql`,
    `params` and `columns` from _keys_sql(), compiled once by the caller) from the first `length`
    rows of `among` (all of them when None) that follow the cursor's values `after` (if any), read
    as walked_keys() reads them, with "SELECT 1" of the rows it may read, unordered and unlimited;
    or None when the filters' SQL can't be read that way (a join). `among` may be rows of a link
    table instead (_read_through_links())."""
    if among.model is not filtered.model:
        return _read_through_links(filtered, ordering, sql, params, columns, length, among, after)
    table, by, order_by = _table_order(filtered, ordering)
    # Read whole and sorted (among_in_order False), among is read as `tested`: what is sorted is then only
    # what passes the filters its index holds, and sorting was the walk's cost (a week by cost with a tag:
    # 9,239 entries sorted for 462 tagged, 4.2 of its 6.0 ms, at a million pipelines). Every match is
    # among tested's, so the walk and its count of what it may read (readable) are theirs.
    among_sql, among_params = _pk_sql(among if among_in_order is not False or tested is None else tested)
    tested_sql, tested_params = _walk_test_sql(tested, ordering) if tested is not None else ("", ())
    source = f" FROM {table} "
    if any(q.count(source) != 1 for q in (sql, among_sql, tested_sql or source)) or " JOIN " in sql + among_sql + tested_sql:
        return None
    following, following_params = _following(filtered, ordering, [f"{table}.{column}" for column in by], after)
    run = among_in_order.run_sql(filtered) if isinstance(among_in_order, DateRuns) else None
    rows, tested_params, readable = _walk_rows(table, sql, among_sql, tested_sql, tested_params, by, columns, order_by, among_in_order, following, run)
    return (
        sql.replace(source, f" FROM ({rows}) AS {table} ", 1), (*among_params, *following_params, length, *tested_params, *params),
        (readable, (*among_params, *following_params)),
    )


def _walk_rows(table, sql, among_sql, tested_sql, tested_params, by, columns, order_by, in_order, following="", run=None):
    """(SQL, the params it takes after `among`'s, `following`'s and the walk's length, and "SELECT 1"
    of every row it may read, taking `among`'s and `following`'s params) of the rows a walk reads
    (walked_keys()): the first of `among` in the order that pass `following` (the rows after a
    cursor: see _following()), with the columns `sql` names (`by`, the order's, in `order_by`).
    `in_order` a DateRuns: among's rows are each run's (`run`, its SQL: a day's or a month's), merged
    (DateRuns.merged())."""
    source = f" FROM {table} "
    named = _columns_named(sql, table)
    held = list(dict.fromkeys([*by, *_columns_named(tested_sql, table)]))
    entries_first = tested_sql and any(column not in held for column in named)
    read = ", ".join(f"{table}.{c}" for c in (held if entries_first else named))
    among_rows = _rows_after(among_sql, source, following if in_order else "")
    if not in_order:
        # The cursor after the fence: its row comparison, priced by its first column alone,
        # would otherwise lead the planner to read the range through the order's index.
        among_rows = f"(SELECT {read} FROM {among_rows} OFFSET 0) AS {table}" + (f" WHERE {following}" if following else "")
    readable = f"SELECT 1 FROM {among_rows}"
    if isinstance(in_order, DateRuns):
        # among's conditions stay outside the days' arms: the planner pushes them into each,
        # the owner's into its index condition, so that they take their params once. Counted
        # (readable), among is read through whichever index the planner likes.
        arm_columns = dict.fromkeys([*(held if entries_first else named), *_columns_named(among_sql, table)])
        arms = in_order.merged(run, table, arm_columns, order_by)
        among_rows = f"({arms}) AS {among_rows}"
    walked = f"SELECT {read} FROM {among_rows} ORDER BY {order_by} LIMIT %s"
    if not entries_first:
        return walked, (), readable
    # The index's entries first (an index-only scan), then the table's row for each that
    # passes, by the order's last, unique column (the primary key). The order's columns
    # come from the entries, so that the planner knows the rows come in order and stops
    # at the limit-th match.
    passed = tested_sql.replace(source, f" FROM ({walked}) AS {table} ", 1)
    return _rows_by_key(table, passed, by, columns, named), tested_params, readable


def _rows_by_key(table, passed, by, columns, named):
    """SQL of the rows of `table` whose order's values (`by`, its columns, in the order) `passed`
    selects in the order, as `columns`: each row read by the order's last, unique column (the
    primary key), with the columns `named`. The order's columns come from `passed`, so that the
    planner knows the rows come in order and stops at the limit-th match."""
    rest = [column for column in named if column not in by]
    selected = [*(f"passed.{k} AS {c}" for k, c in zip(columns, by)), *(f"{table}.{c}" for c in rest)]
    read = ", ".join(f"{table}.{c}" for c in rest) or "1"
    row = f"SELECT {read} FROM {table} WHERE {table}.{by[-1]} = passed.{columns[-1]} OFFSET 0"
    return f"SELECT {', '.join(selected)} FROM ({passed}) AS passed ({', '.join(columns)}) CROSS JOIN LATERAL ({row}) AS {table}"


def _read_through_links(filtered, ordering, sql, params, columns, length, links, after):
    """_read_through() for `links`, rows of another table (a link table) with a foreign key to the
    list's, that hold the order's values under the same names but the last, the list's primary
    key, which is that foreign key: the first links in the order, each with its row of the list's
    table, the filters tested on it (PostgreSQL's jobs_pipelinetag, of one tag, with each
    pipeline's created_at: jobs/listing.py _tag_links()). None when the links' SQL can't be read
    so (a join)."""
    quote = connections[filtered.db].ops.quote_name
    table, by, _ = _table_order(filtered, ordering)
    key = next(field for field in links.model._meta.concrete_fields if field.related_model is filtered.model)
    names = [name for name, _ in ordering.fields[:-1]]
    linked = [links.model._meta.get_field(name).column for name in names] + [key.column]
    link_table = quote(links.model._meta.db_table)
    link_by = [f"{link_table}.{quote(column)}" for column in linked]
    links_sql, links_params = _compiled_once(links, key.name, lambda: _sql(links.order_by().values(key.name)))
    source = f" FROM {link_table} "
    if links_sql.count(source) != 1 or sql.count(f" FROM {table} ") != 1 or " JOIN " in links_sql + sql:
        return None
    following, following_params = _following(filtered, ordering, link_by, after)
    link_rows = _rows_after(links_sql, source, following)
    passed = f"SELECT {', '.join(link_by)} FROM {link_rows} ORDER BY {_order_terms(link_by, ordering)} LIMIT %s"
    rows = _rows_by_key(table, passed, by, columns, _columns_named(sql, table))
    link_params = (*links_params, *following_params)
    return (
        sql.replace(f" FROM {table} ", f" FROM ({rows}) AS {table} ", 1), (*link_params, length, *params),
        (f"SELECT 1 FROM {link_rows}", link_params),
    )


def _columns_named(sql, table):
    """The columns of `table` that `sql` names (table."column", or table.column as a raw
    expression may name one), each once."""
    return list(dict.fromkeys(re.findall(re.escape(table) + r'\.("[^"]+"|\w+)', sql)))


def _walk_length(estimate, among, page_size, longest, priced=False):
    """How many rows of `among` a walk should read: enough to meet a page of the `estimate`
    matches three times over, were they spread evenly (one more EXPLAIN), or as many as the
    fetch it stands in for would read (the `estimate` matches, when they are no more than a
    third of `among`: past that the walk gives way to the planner's LIMIT, no fetch, and a
    longer LIMIT led the planner to sort among whole), whichever is more; all of
    `among` when it holds fewer (a week's 9,000 pipelines for 21 matches), no more than
    `longest`; or 0 when three pages at that density lie past `longest`: sparser matches
    would be walked in vain before the fenced fetch (a tag with a status among all the
    owner's rows by cost: 16 found in 20,000, 11 ms, then the fetch's 8 ms).

    Matches are seldom spread evenly along the order, and a walk that falls short pays for
    the fetch after it: failed pipelines with "sailboat" by cost at a million pipelines, 6,417
    expected among 87,218, met 20 of the 21 wanted in the 857 rows of three pages, then
    fetched and sorted 6,083 rows, 8 ms more. A walked row costs about what a fetched one
    does (1 against 1.3 µs there), so walking as far as the fetch would read is the rent-or-
    buy rule: a walk that finds its page costs less than the fetch, one in vain (matches the
    planner takes for independent filters may never meet: videos never show a sailboat) at
    most as much again, never more than twice what the better choice would have.

    first_page()'s `walk_length` (30,000 rows, twice as many entries tested first) is
    where that bound costs less than the fetches it spares: at 20,000, a word with a tag
    estimated at 1,303 of 952,167 pipelines (3,109 matched) was fetched instead, 2,984
    heap pages, 12 ms; walked, 3.6 ms. No combination of bench/lists.py rose by more
    than 0.5 ms, within the noise (docs/benchmarks.md, ninth pass).

    `priced`: `longest` is no more rows than a walk may read for what the fetch would cost (the
    list prices it: first_page()'s walk_rows_per_cost). Such a fetch is still walked for, that far,
    where one page of matches is expected in those rows, if not three: the planner's estimate of a
    phrase is read off a sample (one ANALYZE put "neon portrait", in 6,667 of a million assets, at
    3,344), and walked, its page took 9,000 rows, 14 ms, fetched 63 (three pages expected in 54,700
    rows, past 30,000)."""
    rows = max(planner_rows(among, reuse=True), 1)
    # Every match is one of among's rows, whatever the two estimates say: the planner put "golden sports car at
    # sunset" at 10,033 of a million assets and its pair's links ("den spo") at 3,068, half of them matches, and a
    # walk of 56 links for a page fell short.
    density = min(estimate, rows) / rows
    pages = min(3 * (page_size + 1) / density, rows) if density else longest + 1
    fetch = estimate if _fetch_follows_walk(estimate, rows) else 0
    if pages > longest:
        return longest if priced and fetch and (page_size + 1) / density <= longest else 0
    return math.ceil(min(max(pages, fetch), rows, longest))


def _entries_dearer(fetch_cost, estimate, among, page_size):
    """Whether walking `among`'s index entries, tested before any row is read, for a page of the `estimate`
    matches spread evenly costs more than the fetch of them all, which the planner prices at `fetch_cost`. An
    entry read and tested costs about ENTRY_COST of the planner's units: failed pipelines with a tag and a word
    at a million pipelines, 248 of them, each page walked 8,512 entries of failed ones (4.8-8.4 ms) where the
    fetch, priced 1,523 through the failed ones' text index, took 1.4-2.2 ms (docs/benchmarks.md)."""
    entries = (page_size + 1) * planner_rows(among, reuse=True) / max(estimate, 1)
    return entries * ENTRY_COST > fetch_cost


# What reading and testing one index entry costs a walk, in the planner's units (_entries_dearer()): 0.5 to 0.8 µs
# measured, where a unit of a fetch's cost took about 1 µs.
ENTRY_COST = 0.5

# A page of a date range merged by day is first walked for along among (first_page(), merged_by_day()) through at
# most this many of among's entries for each of the range's days: what a day's descent costs the merge.
DAY_ENTRIES = 20


def _fetch_follows_walk(estimate, among_rows):
    """Whether a walk of among in order that falls short is followed by the fenced fetch of the
    `estimate` matches, rather than by the planner's plain LIMIT: matches past a third of among's
    rows cost more fetched and sorted than the order's index walked through all of among (0.65
    against 0.22 µs a row, measured: a year of 481,675 pipelines by cost, 314 ms against 108)."""
    return estimate <= among_rows / 3


# first_page()'s walk_above: past this many matches expected, a page is the planner's LIMIT.
WALK_ABOVE = 10_000


def first_page(
    filtered, rows, ordering, page_size, exact_up_to=1000, walk_above=WALK_ABOVE, among=None, walk_length=30_000, tested=None,
    costly_above=1500, among_in_order=True, days=None, after=None, walk_rows_per_cost=None, backwards=False,
):
    """(page, Total) of a list's first page: no filter's scan runs twice.

    `filtered` is the list's filters; `rows(queryset)` adds what a row shows
    (annotations, columns), which is costly per row but not per match.

    On PostgreSQL the planner's estimate (an EXPLAIN, well under a millisecond, this
    process's of the last minute where it has one: planner_estimate()) decides. A big
    list (over `walk_above` matches) finds its page by walking the order's index, which
    meets a match every few rows, and its total is the estimate: "about 950,000" is all a
    page needs. With a filter that index doesn't lead with (`tested`), or an `among` it
    doesn't read in order, that walk is bounded as a smaller list's is, then the matches
    fetched: the planner takes the filter for independent of the order and would walk
    until it met them, however far (a month of
    42,221 pipelines sorted by cost, all of them cheaper than the newer ones: 740,874
    entries read for 21, 217 ms). A smaller one has the keys of
    its first page fetched with the exact number of its matches, in one statement
    (matching_keys(): planned for all of them, never a walk that may read the table
    to find a few). Only past `exact_up_to` matches, or past a page of them when
    fetching them all is costly (the planner's cost past `costly_above`: 2 to 10 ms
    measured, for a common word's trigrams or a range's rows tested one by one, against
    0.5 to 2 ms for most walks), when `among` is given and dense enough with matches
    to fill a page soon, is the page found by a short walk of `among` instead
    (walked_keys(), _walk_length(); `tested` is `among` narrowed by filters its
    order's index can test; `among_in_order` False: no index reads `among` in the
    order, so it is read whole and sorted; a DateRuns: each day's or month's, merged), the total
    then being the estimate. So a rare combination of filters is scanned once, not once
    for the page and again for the count. The page's rows are loaded by primary key. A page that comes back short
    knows its exact total anyway. SQLite, the embedded default with small data, always
    takes the keys, and counts past `exact_up_to`.

    `walk_rows_per_cost`: for a list whose walks read every row they pass (a word tested on
    each), how many rows a walk may read per unit of the planner's cost of the fetch it stands
    in for (no such bound when None). Whether the walk finds its page turns on the estimate,
    which the planner makes for independent filters; past that bound a walk costs more than the
    fetch would if it found nothing, and in vain it costs both.

    `days` (DateRuns), on PostgreSQL: every row of `filtered` was made on those days and an
    index reads each day's in the order, so the page is merged from each day's first
    (merged_by_day()), whatever the estimate; the total is the estimate unless that page is
    short. With `among` (the rows an index reads in the order, that hold `filtered`'s), where
    three pages of matches at the estimated density lie within DAY_ENTRIES of among's entries a
    day, among is walked for them first, and the days merged only if that walk falls short.

    `after`: a cursor's values (list_page()): the page of the rows that follow it, found the
    same way among them (the statements narrowed to those); its total is no count of
    those, and list_page() drops it. The choices are made on the estimates of all the
    list's rows: the planner prices a row comparison by its first column alone, and took
    a million pipelines of cost 0 after (0, 999,982) for 1, whose fetch then read 950,146.

    `backwards` (with `after`): the page of the rows that come before it, found as the first
    rows that follow it in the reversed order (each index read backwards), then put back in
    the order.

    What a first page found is remembered where the planner was wrong: when it expected a
    page and more and every match fitted in one, this process plans the same filters' next
    ESTIMATES_KEPT seconds of pages with the number found, not the planner's (which moves
    only with ANALYZE). The planner takes filters for independent, and some never meet:
    videos with "sailboat" at a million assets, estimated 1,669, none there; each request
    walked 5,474 videos in vain (11 ms) before the fetch found nothing (7 ms), and now only
    the first of the minute does. A number found stale costs no wrong row or total: the fetch
    it leads to counts what it finds, and stops at UNDERESTIMATED times it to walk instead.
    A fetch that stopped there (the planner expected too few) is remembered too: for the next
    minute the same filters' pages, a cursor's too, are walked for at once, as that fetch's page
    was after it, their total the same floor. A phrase of common words ("neon portrait", in 5,178 of a
    million pipelines, put at 95 when none of the hundred values the column's statistics
    hold has it) costs its fetch the whole trigram index's bitmap however few it takes, 70-100
    ms a page, and each page of a scroll paid it again before a 3 ms walk.
    """
    exact_up_to = max(exact_up_to, page_size)
    read_in = _read_in(ordering, backwards)
    planned, cost = planner_estimate(filtered, reuse=True) if connections[filtered.db].vendor == "postgresql" else (None, 0)
    found_key = ("found", *_memo_key(filtered)) if planned is not None else None
    learned = _recalled(found_key) if found_key else None  # a Total
    floor = learned is not None and learned.at_least
    estimate = planned if learned is None else (max if floor else min)(planned, learned.count)
    if days is not None and estimate is not None:
        # A range that holds many of among's rows is walked for along among first (merged_by_day()): as far as
        # its days' descents would cost.
        length = _walk_length(estimate, among, page_size, DAY_ENTRIES * len(days)) if among is not None else 0
        keys, total = merged_by_day(_cut(filtered, read_in, after), read_in, page_size + 1, days, among, length, after), None
    else:
        costly = cost > costly_above
        through = costly and among is not None and tested is not None and planner_rows(among, reuse=True) <= walk_length
        if through:
            # The fetch reads every entry of among (_first_keys()), whatever the planner's plan of it would cost: the
            # failed assets with "sailboat" at a million assets, 667 of 19,996, planned at 2,091 and fetched so, 6.2 ms
            # a page, where a walk priced by that plan stopped short of the 2,278 entries a page of them lies in.
            cost = max(cost, planner_rows(among, reuse=True) * ENTRY_COST)
        keys, total, estimate = _first_keys(
            filtered, read_in, page_size, estimate=estimate, exact_up_to=exact_up_to, costly=costly, fetch_cost=cost,
            walk_above=math.inf if floor else walk_above, among=among, walk_length=walk_length, tested=tested,
            among_in_order=among_in_order, after=after, bounded=not floor, backwards=backwards, through_among=through,
            row_walk_length=None if walk_rows_per_cost is None else int(_repriced(cost, planned, estimate) * walk_rows_per_cost),
        )
        # What the planner got wrong, for the next minute's pages (see the docstring). Only what a
        # fetch found is kept: a floor recalled lapses with its minute.
        if found_key and total is not None and total.at_least:
            _keep(found_key, total)  # the fetch stopped at its bound: more match than it expected
        elif floor and total is None:
            total = learned
    if after is None and found_key and len(keys) <= page_size < planned:
        _keep(found_key, Total(len(keys)))  # it expected a page and more, and every match is here
    # Whether there is more is the keys' to say: a row deleted since they were read is
    # missing from the rows, and the page would otherwise look like the last one.
    found = rows_by_keys(filtered.model, rows, read_in, keys, filtered.db)
    page = _page(filtered.model, found, ordering, page_size, after_cursor=after is not None, backwards=backwards, more=len(keys) > page_size)
    if total is not None and not total.at_least:
        return page, total
    if len(keys) <= page_size:
        return page, Total(len(keys))
    return page, total or Total(max(estimate, len(keys)), is_estimate=True)


def _repriced(cost, planned, found):
    """The planner's `cost` of fetching the `planned` matches, for the `found` ones where a fetch
    found more: it prices a fetch by the rows it expects. A walk priced by that cost
    (walk_rows_per_cost) would otherwise stay as short as the estimate was wrong: "neon
    portrait" at a million assets, put at 100, 6,667 there, allowed 2,331 rows for a page at 0.67%
    (37 ms a request, the walk in vain then the fetch). Without an estimate (SQLite), the cost as it is."""
    if planned is None or found is None:
        return cost
    return cost * max(found / max(planned, 1), 1)


def _cut(queryset, ordering, after):
    """`queryset`'s rows that follow the cursor's values `after` (all of them when None)."""
    return queryset if after is None or queryset is None else queryset.filter(ordering.after(after))


def _keys_in_order(filtered, ordering, limit, after=None):
    """The primary keys of the first `limit` rows of `filtered` after `after`: the planner's plain LIMIT.
    A first page's statement is its estimate's (_pk_sql()), ordered and limited."""
    sql, params = _pk_sql(filtered)
    if after is not None or not _plain(sql):
        return list(_cut(filtered, ordering, after).order_by(*ordering.order_by()).values_list("pk", flat=True)[:limit])
    order_by = _table_order(filtered, ordering)[2]
    with connections[filtered.db].cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY {order_by} LIMIT %s", (*params, limit))
        return [row[0] for row in cursor.fetchall()]


# A fetch of matches estimated at n reads at most this many times n (and exact_up_to)
# before it takes the estimate for wrong (_first_keys()).
UNDERESTIMATED = 10


def _first_keys(
    filtered, ordering, page_size, *, estimate, exact_up_to, costly, walk_above, among, walk_length, tested, among_in_order, after, row_walk_length,
    bounded=True, backwards=False, fetch_cost=0, through_among=False,
):
    """(the first page's keys and one more, their Total when a fetch counted them or None,
    the estimate): see first_page(). What is read is narrowed to what follows the cursor's values `after` (if
    any): walks read among from there, fetched matches are taken from there (_following()),
    while the choices are made on the estimates of all the rows; `backwards`: `ordering` is the list's
    reversed, for a backward cursor's page.

    A fetch stops at UNDERESTIMATED times the estimate (bounded): the planner's estimate of
    a word is read off a hundred of its column's values, and one ANALYZE in fourteen at a
    million pipelines put "sailboat", in 67,158 of them, at 95; fetched and counted, the
    first page took 209 ms of SQL. Past that bound the count fetched is the estimate, and
    the page is walked for as any list of that many matches (walk_above no longer applies:
    the planner's own LIMIT would plan with its estimate), its total then a floor (Total.at_least):
    the matches fetched, more than the bound. The bound is above the estimate, so the planner plans
    the fetch as it would without it."""
    # Past walk_above a page is the planner's LIMIT (in_order). A backward cursor's page lies toward
    # the list's top, where few rows follow the cursor in the reversed order: the planner plans its
    # LIMIT for those few and intersects the bitmap of every match of a word with theirs ("sailboat"
    # near the top of a million assets: 40,000 entries, 29 ms). It is walked for first, the LIMIT
    # only after a walk that falls short; a forward one's walk cost more than the LIMIT (a word's
    # second page at a million pipelines: 7.6 ms of SQL against 5.9). Links of another table (a tag's, a pair of
    # words') are walked however many the matches: the LIMIT reads none of theirs but the order's index, testing
    # each row, as far as the planner's estimate holds ("pastel cup of coffee", 13,615 expected of a million
    # assets: 2.3 ms so, 2.2 walked along its pair's links, which bound the walk wherever the estimate is wrong).
    links = among is not None and among.model is not filtered.model
    in_order = estimate is not None and estimate > walk_above and among_in_order is True and tested is None and not links
    length = 0
    # Links whose fetch is costly are walked however few the matches expected, as far as all of them where they are
    # fewer than a walk may read: the walk's finding stands for the fetch (the matches are all among them). "neon
    # portrait" with the videos at a million assets, none there, 146 links expected (none of its pair's 6,667 links a
    # video's): its fetch, the trigram index's bitmap with the videos' entries, cost 16 ms every request once the
    # first had found none (the estimate then 0); the links' walk and count 2.1 ms.
    walks = estimate is not None and (estimate > exact_up_to or costly and (estimate > page_size or links)) and (backwards or not in_order)
    if walks and estimate <= exact_up_to and among is not None and tested is not None and row_walk_length is None:
        # Few matches, walked for only because their fetch is costly: not where the walk costs more (a list whose
        # walks are priced, walk_rows_per_cost, has them bounded by the fetch's cost already).
        walks = not _entries_dearer(fetch_cost, estimate, among, page_size)
    if walks and among is not None:
        # A walk that tests the index's entries before it reads a row reads them at a fourth
        # of a row's cost (0.12 against 0.45 µs each, measured), so it may go twice as far.
        longest = walk_length * (1 if tested is None else 2)
        if row_walk_length is not None:
            longest = min(longest, row_walk_length)
        # Past an estimate found wrong (not bounded), the matches are more than it: as far as a walk may go.
        expected = max(estimate, 1) if links else estimate  # _walk_length() walks for no fewer than one
        length = _walk_length(expected, among, page_size, longest, row_walk_length is not None) or (0 if bounded else longest)
    if length:
        among_rows = planner_rows(among, reuse=True)  # _walk_length()'s, reused
        # The planner's LIMIT reads among in order only through an index that holds it so.
        fetched = not in_order and (among_in_order is not True or _fetch_follows_walk(estimate, among_rows))
        return walked_keys(filtered, among, ordering, page_size + 1, length, tested, among_in_order, fetched, after, among_rows), None, estimate
    if in_order:
        return _keys_in_order(filtered, ordering, page_size + 1, after), None, estimate
    # Few matches, costly for the planner's plan (a tag's GIN entries ANDed with a week's, 44,232 of them, before a
    # word is tested), among a short `among` whose index holds the filters `tested` names (`through_among`, and
    # `fetch_cost` then theirs): its entries, tested, give the rows to fetch.
    through = (among, tested, among_in_order) if through_among else None
    up_to = max(UNDERESTIMATED * estimate, exact_up_to) if bounded and among is not None and estimate is not None else None
    keys, total = matching_keys(filtered, ordering, page_size + 1, counted_up_to=exact_up_to, through=through, after=after, up_to=up_to)
    if up_to is None or total <= up_to:
        return keys, Total(total), estimate
    keys = _first_keys(
        filtered, ordering, page_size, estimate=total, exact_up_to=exact_up_to, costly=costly, fetch_cost=fetch_cost, walk_above=math.inf, among=among,
        walk_length=walk_length, tested=tested, among_in_order=among_in_order, after=after, bounded=False, through_among=through_among,
        row_walk_length=None if row_walk_length is None else int(_repriced(row_walk_length, estimate, total)),
    )[0]
    return keys, Total(total, is_estimate=True, at_least=True), total
