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

import string

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import transaction
from django.db.migrations.operations import AddIndex, RemoveIndex, RunPython

from .pghash import check


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


def build_index_concurrently(schema_editor, name, definition):
    """CREATE INDEX CONCURRENTLY `name` `definition` (PostgreSQL), a valid index whatever an
    earlier run left.

    A CREATE INDEX CONCURRENTLY that was interrupted (a deploy's timeout, a cancel, a full
    disk) leaves an INVALID index of that name behind, which the planner never uses and
    `IF NOT EXISTS` would keep: dropped first, and the new one checked before the caller
    goes on (to drop the index it replaces, say)."""
    valid = "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(valid, [name])
        row = cursor.fetchone()
        if row and not row[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
        cursor.execute(valid, [name])
        if cursor.fetchone() != (True,):
            raise RuntimeError(f"index {name} was not built; run the migration again")


def replace_indexes(table, indexes, replaced, extensions=()):
    """The operation (RunPython, reversible, PostgreSQL only) that replaces the `replaced`
    indexes ({name: definition}) of `table` by `indexes`, built first: replacing_indexes()
    forwards, the other way backwards. Its migration sets `atomic = False`."""
    return RunPython(
        replacing_indexes(table, indexes, replaced, extensions), replacing_indexes(table, replaced, indexes, extensions)
    )


def replacing_indexes(table, indexes, replaced, extensions=()):
    """A RunPython function (PostgreSQL only; nothing elsewhere) that builds `indexes`
    ({name: definition after the name}) concurrently, then drops the `replaced` ones (names)
    concurrently: never the old ones before the new ones are valid (_maintenance())."""

    def work(schema_editor):
        for name, definition in indexes.items():
            build_index_concurrently(schema_editor, name, definition)
        for name in replaced:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    return _maintenance(table, work, extensions)


def rebuild_indexes(table, indexes, previous):
    """The operation (RunPython, reversible, PostgreSQL only) that rebuilds indexes of `table`
    in place, under the names the models declare: rebuilding_indexes() to `indexes`
    ({name: definition after the name}) forwards, to `previous` backwards. Its migration
    sets `atomic = False`."""
    return RunPython(rebuilding_indexes(table, indexes), rebuilding_indexes(table, previous))


def rebuilding_indexes(table, indexes):
    """A RunPython function (PostgreSQL only) that gives each index named in `indexes` its
    definition there: built concurrently under a name of its own, then the old one dropped
    concurrently and the new one renamed (a catalog change). Run again after an
    interruption, it finishes the job: a new index left under its own name is kept only
    once the old one is gone (the run stopped between the drop and the rename); while the
    old one is there, whatever holds the new name (a build cut short, or one of another
    definition) is built again."""

    def work(schema_editor):
        for name, definition in indexes.items():
            if _index_exists(schema_editor, name):
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_next")
            build_index_concurrently(schema_editor, f"{name}_next", definition)
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            schema_editor.execute(f"ALTER INDEX {name}_next RENAME TO {name}")

    return _maintenance(table, work)


def set_statistics_target(table, statistics, target):
    """A RunPython operation setting extended `statistics`' target on `table` (PostgreSQL only),
    then analyzing the table; reversed, the default again. ANALYZE takes no lock on writes."""
    return _statistics_target(table, f"ALTER STATISTICS {statistics}", target)


def set_column_statistics(table, column, target):
    """The same for `column` of `table`: how many of its values the planner keeps (histogram, common values)."""
    return _statistics_target(table, f"ALTER TABLE {table} ALTER COLUMN {column}", target)


def _statistics_target(table, altered, target):
    def setting(value):
        return _maintenance(table, lambda schema_editor: schema_editor.execute(f"{altered} SET STATISTICS {value}"))

    return RunPython(setting(int(target)), setting(-1))


def set_storage(table, **parameters):
    """A RunPython operation setting `table`'s storage `parameters` (PostgreSQL only), such as
    its autovacuum thresholds; reversed, the server's own again. ALTER TABLE ... SET of these
    takes SHARE UPDATE EXCLUSIVE: reads and writes go on, nothing is rewritten or analyzed."""

    def altered(clause):
        def run(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(f"ALTER TABLE {table} {clause}")

        return run

    options = ", ".join(f"{name} = {value}" for name, value in parameters.items())
    return RunPython(altered(f"SET ({options})"), altered(f"RESET ({', '.join(parameters)})"))


def joined_text(expression, spaces, marks, typography="", quote=None):
    """SQL of `expression` (text) joined: each of `spaces` dropped, each of `marks` made the letter
    at its place from U+1401 on (Canadian syllabics: letters to pg_trgm in a UTF-8 locale, and in next
    to no prompt), one replace() each, and every character of `typography` made the one letter after
    those (typography_letter()), by one regexp_replace() in a text that is not all ASCII (none of them
    "]", "^", "-" or "\\", which a bracket expression reads otherwise). An index of
    such an expression (joined_words_index()) is read only by a condition written with the same calls
    in the same order: i2v/lib/filters.py joined_sql() writes its own with this, `quote` there doubling
    a "%" for a statement with params.

    ASCII's 38 replace() cost 3.0 µs a row over a million pipelines' texts, one regexp_replace() of
    them all 6.4 and one translate() 19 (docs/benchmarks.md, "Thirty-second pass"). Over the same
    texts (a quarter not all ASCII) a replace() of each of typography's 47
    would cost 0.24 µs a row each (14.8 µs in all, against ASCII's 38 in 3.5), one regexp_replace()
    1.0; a text whose bytes are its characters is all ASCII and skips it: 0.76 µs a row more than
    ASCII's alone there, 0.02 over a million assets' all-ASCII texts (bench/joined_text.py;
    docs/benchmarks.md, "Thirty-fifth pass")."""
    quote = quote or (lambda text: "'" + text.replace("'", "''") + "'")
    if typography:
        replaced = f"regexp_replace({expression}, {quote('[' + typography + ']')}, '{typography_letter(marks)}', 'g')"
        expression = f"CASE WHEN octet_length({expression}) = length({expression}) THEN {expression} ELSE {replaced} END"
    for space in spaces:
        expression = f"replace({expression}, {quote(space)}, '')"
    for place, mark in enumerate(marks):
        expression = f"replace({expression}, {quote(mark)}, '{chr(0x1401 + place)}')"
    return expression


def typography_letter(marks):
    """The letter joined_text() makes of each character of its `typography`, the one after `marks`' letters."""
    return chr(0x1401 + len(marks))


# What each build of the joined words' index joined, (spaces, marks[, typography]) for joined_text(), as its
# migrations built it: a join of other characters is a constant and a migration of its own.
JOINED_SPACES = (" ", "")  # jobs 0023, library 0017
JOINED_ASCII = (" \t\n\r\f\v", string.punctuation)  # jobs 0024, library 0018
JOINED_TYPOGRAPHY = (  # jobs 0025, library 0019
    *JOINED_ASCII,
    "\u00a0\u2007\u202f\u3000‐‑‒–—―‘’‚‛“”„‟‹›«»…‧•·・、。，．！？：；（）【】《》〈〉「」『』",
)


# What character_pairs() splits a text's pairs apart with: a control character no prompt or file name
# holds, whose pairs the array then lacks (a text holding it is never looked up by its pairs).
PAIRS_APART = "\x01"


def character_pairs(expression):
    """SQL of the text array of every pair of adjacent characters in `expression` (text): those at even
    places, then those at odd places (from its second character on), each run of two made an element by
    one regexp_replace() that puts PAIRS_APART after it, then split there; an odd length's last
    character is an element of its own, as is the empty text after the last pair. What the GIN index of
    each row's pairs (jobs migration 0026, library 0020) indexes and i2v/lib/filters.py HoldsPairs reads.

    pg_trgm reads nothing of a text shorter than three characters that are letters or digits ("a,",
    "1 2", ", ,", "——"), nor the joined index (joined_text()) of one that joins to fewer; the characters
    index finds the rows holding each of its characters, most rows for "a" and ",". A row holds a text
    only if it holds each of the text's pairs, and an array's GIN index answers "holds each of these"
    with no recheck of its expression (28 µs a row over a million pipelines' texts, a row's characters'
    6.5; docs/benchmarks.md, "Thirty-sixth pass"), while a trigram index rechecks every row it offers:
    one of each text with every character tripled (each trigram then a pair) took 16 s for "——", the
    249,725 pipelines holding a dash each rechecked. PostgreSQL has no function listing a text's pairs,
    hence these calls."""
    apart = f"chr({ord(PAIRS_APART)})"

    def split(text):
        return f"string_to_array(regexp_replace({text}, '(..)', '\\1' || {apart}, 'g'), {apart})"

    return f"({split(expression)} || {split(f'substr({expression}, 2)')})"


def joined_words_index(table, index, joined, previous):
    """The operation (rebuild_indexes()) that rebuilds `index`, the GIN trigram index of `table`'s
    search_text joined (joined_text()), on the text joined by `joined` (its spaces, marks and
    typography) and back on the text joined by `previous` backwards. Each migration names its join
    (JOINED_*, never changed once built), so that the index it builds stays what it built: filters.py
    joined_sql() reads the newest, and a join of other characters is a migration of its own (a test
    finds the index unused otherwise)."""

    def definition(*joined):
        return f"ON {table} USING gin ({joined_text('search_text', *joined)} gin_trgm_ops)"

    return rebuild_indexes(table, {index: definition(*joined)}, {index: definition(*previous)})


def _index_exists(schema_editor, name):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'i'", [name])
        return cursor.fetchone() is not None


def _maintenance(table, work, extensions=()):
    """A RunPython function running `work(schema_editor)` on PostgreSQL (nothing elsewhere):
    the extensions it needs created first, more memory than the default 64 MB for its
    index builds (this session only), the table analyzed after."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for extension in extensions:
            schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
        schema_editor.execute("SET maintenance_work_mem = '256MB'")
        work(schema_editor)
        schema_editor.execute("RESET maintenance_work_mem")
        schema_editor.execute(f"ANALYZE {table}")

    return run


# A text's trigram signature (library migration 0023): of 256 bits, the bit hashtext(trigram) & 255 set
# for each trigram (pg_trgm's show_trgm() of a row's text, or the trigrams of a text searched for,
# i2v/lib/filters.py signature_trigrams()). A row whose text holds a text has each of its trigrams, so
# its signature holds every bit of the text's: testing that on an index's entries drops no match.
# hashtext() is the hash PostgreSQL's hash indexes and hash partitions store, stable across releases;
# 37 µs a row of the Library's texts (md5() cost 139). Immutable: an index or a constant may hold it.
TRIGRAM_SIGNATURE = """
CREATE OR REPLACE FUNCTION i2v_trigram_signature(trigrams text[]) RETURNS bit(256)
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(bit_or(set_bit(repeat('0', 256)::bit(256), hashtext(t) & 255, 1)), repeat('0', 256)::bit(256))
    FROM unnest(trigrams) AS t
$$
"""


def trigram_signature(table, text, written_by, indexes):
    """The operations (RunPython, PostgreSQL only) that give `table` a `search_signature` column of
    its rows' trigram signatures (TRIGRAM_SIGNATURE), kept by a row trigger for every writer, and
    `indexes` ({name: definition after the name}) that hold it: the column (nullable, no default:
    no rewrite) and the trigger first, so that nothing written during the backfill is missed; the
    rows already there filled in batches of SIGNATURE_BATCH, each its own transaction; the indexes
    built concurrently. Its migration sets `atomic = False`. `text`: SQL of a row's search text from
    NEW (a BEFORE trigger's row, where a generated column is not computed yet); `written_by`: the
    columns whose update changes it. A row's signature is NULL until its batch is filled in, which
    every search counts as a possible match. The trigger fires in replica mode too (signature_always())."""
    function = f"{table}_search_signature"
    create = [
        TRIGRAM_SIGNATURE,
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_signature bit(256)",
        _signature_function(table, _trigram_assignment(text)),
        f"DROP TRIGGER IF EXISTS {table}_signature ON {table}",
        f"CREATE TRIGGER {table}_signature BEFORE INSERT OR UPDATE OF {', '.join(written_by)} ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {function}()",
        _ALWAYS.format(table=table),
    ]
    drop = [
        *(f"DROP INDEX CONCURRENTLY IF EXISTS {name}" for name in indexes),
        f"DROP TRIGGER IF EXISTS {table}_signature ON {table}",
        f"DROP FUNCTION IF EXISTS {function}()",
        f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_signature",
    ]

    def statements(sqls):
        def run(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                for sql in sqls:
                    schema_editor.execute(sql)

        return run

    return [
        RunPython(statements(create), statements(drop)),
        RunPython(_signatures_filled(table), RunPython.noop),
        replace_indexes(table, indexes, {}),
    ]


def _signature_function(table, body, declared=""):
    """SQL (re)making the function of `table`'s signature trigger: `body` (plpgsql statements setting NEW's
    columns), with the variables `declared`."""
    return f"""CREATE OR REPLACE FUNCTION {table}_search_signature() RETURNS trigger LANGUAGE plpgsql AS $$
{f"DECLARE{chr(10)}    {declared}{chr(10)}" if declared else ""}BEGIN
    {body}
    RETURN NEW;
END $$"""


def _trigram_assignment(text):
    """plpgsql setting NEW's trigram signature (trigram_signature()) from `text` (SQL from NEW)."""
    return f"NEW.search_signature := i2v_trigram_signature(show_trgm({text}));"


def signature_always(table):
    """The operations that make trigram_signature()'s trigger on `table` fire in replica mode too, and fill in
    the signatures it left out there. seed_demo loads its COPYs with session_replication_role = replica (no
    foreign-key checks), which skipped the trigger as first made: a seeded million pipelines all had NULL, so
    every search walked their rows as before the signature. The other triggers that keep a derived column
    fire ALWAYS for the same reason (jobs migrations 0012, 0019, 0027)."""

    def always(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_ALWAYS.format(table=table))

    return [RunPython(always, RunPython.noop), RunPython(_signatures_filled(table), RunPython.noop)]


_ALWAYS = "ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_signature"


def _signatures_filled(table):
    """A RunPython function filling in the NULL trigram signatures of `table`'s rows (_filled())."""
    return _filled(table, "search_signature", "i2v_trigram_signature(show_trgm(search_text))", {"search_signature": "filled.computed"})


def _filled(table, column, computed, assigned):
    """A RunPython function setting the rows of `table` (PostgreSQL) whose `column` is NULL: `computed` (SQL of
    the row's columns) once a row, as filled.computed, then each column of `assigned` ({column: SQL of
    filled.computed}), a batch of SIGNATURE_BATCH ids per statement, each its own transaction in a migration
    with `atomic = False`. The value is computed behind a fence: a subquery the planner flattened repeated it
    for each column (six times the work)."""
    assignment = ", ".join(f"{name} = {value}" for name, value in assigned.items())

    def fill(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"SELECT min(id), max(id) FROM {table} WHERE {column} IS NULL")
            low, high = cursor.fetchone()
            for start in range(low or 0, (high or -1) + 1, SIGNATURE_BATCH):
                cursor.execute(
                    f"UPDATE {table} SET {assignment} FROM (SELECT id, {computed} AS computed FROM {table}"
                    f" WHERE id >= %s AND id < %s AND {column} IS NULL OFFSET 0) AS filled WHERE {table}.id = filled.id",
                    [start, start + SIGNATURE_BATCH],
                )

    return fill


SIGNATURE_BATCH = 20_000  # rows per transaction of trigram_signature()'s backfill


# A text's signature (library migration 0028, jobs 0032), the trigram signature's successor: six 64-bit words.
# Bits 0-255 are a bit for each trigram pg_trgm reads in the text, placed as TRIGRAM_SIGNATURE places it; bits
# 256-383 two for each pair of adjacent words, a word being a run of ASCII letters and digits: the last two
# characters of one and the first of the next, a space between ("on p"), placed by hashtext()'s lowest seven
# bits and by the seven above its lowest byte. A text holding a searched one holds its trigrams and its
# adjacent words (i2v/lib/filters.py signature_words()), so its signature holds every bit of the searched
# one's: testing that on an index's entries drops no match. The pairs spare a walk the rows holding a
# phrase's words apart ("neon portrait" at a million assets: 246 rows read for a page of 61, 61 with them;
# one bit of 64 a pair left 153). The characters are listed, not ranged, so that no collation reads another
# letter into them. 67 µs a row of the Library's texts.
SEARCH_WORDS = """
CREATE OR REPLACE FUNCTION i2v_search_words(t text) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT array_agg(coalesce(words.w, 0) ORDER BY n.n)
    FROM generate_series(0, 5) AS n (n) LEFT JOIN (
        SELECT b >> 6 AS n, bit_or(1::bigint << (b & 63)) AS w FROM (
            SELECT hashtext(g) & 255 AS b FROM unnest(show_trgm(t)) AS g
            UNION ALL
            SELECT 256 + ((h >> shift.s) & 127) FROM (
                SELECT hashtext(right(a, 2) || ' ' || left(z, 1)) AS h FROM (
                    SELECT x.a, lead(x.a) OVER (ORDER BY x.p) AS z
                    FROM unnest(regexp_split_to_array(t, '[^abcdefghijklmnopqrstuvwxyz0123456789]+')) WITH ORDINALITY AS x (a, p)
                ) AS adjacent WHERE length(a) >= 2 AND z <> ''
            ) AS pairs CROSS JOIN (VALUES (0), (8)) AS shift (s)
        ) AS bits GROUP BY 1
    ) AS words ON words.n = n.n
$$
"""
SEARCH_SIGNATURE = [f"search_sig{n}" for n in range(6)]


def search_words(table, text, indexes, previous):
    """The operations (RunPython, PostgreSQL only) that replace `table`'s trigram signature (trigram_signature())
    by its text's signature (SEARCH_WORDS) in the columns SEARCH_SIGNATURE, and its `previous` indexes by
    `indexes` (definitions by name, rebuilt under their names): the function, the columns (nullable, no
    default: no rewrite) and the trigger's function first, which writes them and no longer the old column
    (NULL there: a possible match to what still reads it); the rows filled in batches of SIGNATURE_BATCH;
    the indexes rebuilt concurrently; then the old column dropped, and the table's other indexes, which the
    backfill swelled, rebuilt concurrently (_reindexed()). Its migration sets `atomic = False`.
    `text`: SQL of a row's search text from NEW, as trigram_signature() had it. Refused on a server whose
    hashtext() differs from i2v/lib/pghash.py's, by which a search places its bits."""
    assigned = {column: f"filled.computed[{n + 1}]" for n, column in enumerate(SEARCH_SIGNATURE)}

    def trigger(old):
        words = " ".join(f"NEW.{column} := words[{n + 1}];" for n, column in enumerate(SEARCH_SIGNATURE))
        return _signature_function(table, f"{words} {old}", f"words bigint[] := i2v_search_words({text});")

    computed = _trigram_assignment(text)
    kept_old = _signature_function(table, computed)
    create = [
        SEARCH_WORDS,
        *(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} bigint" for column in SEARCH_SIGNATURE),
        trigger("NEW.search_signature := NULL;"),
    ]
    uncreate = [kept_old, *(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}" for column in SEARCH_SIGNATURE)]
    drop = [trigger(""), f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_signature"]
    undrop = [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_signature bit(256)", trigger(computed)]

    def statements(sqls, checked=False):
        def run(apps, schema_editor):
            if schema_editor.connection.vendor != "postgresql":
                return
            if checked:
                with schema_editor.connection.cursor() as cursor:
                    check(cursor)
            # One transaction: the trigger's function never names a column that isn't there.
            with transaction.atomic(using=schema_editor.connection.alias):
                for sql in sqls:
                    schema_editor.execute(sql)

        return run

    return [
        RunPython(statements(create, checked=True), statements(uncreate)),
        RunPython(_filled(table, SEARCH_SIGNATURE[0], "i2v_search_words(search_text)", assigned), RunPython.noop),
        rebuild_indexes(table, indexes, previous),
        RunPython(RunPython.noop, _signatures_filled(table)),  # backwards, after the old column is back
        RunPython(statements(drop), statements(undrop)),
        RunPython(_maintenance(table, _reindexed(table, set(indexes))), RunPython.noop),
    ]


def reindexed(table):
    """The operation (RunPython, PostgreSQL only) that rebuilds each index of `table` concurrently, then
    analyzes it: for a table just filled through its indexes, whose entries came in no order and left
    their pages half full (library migration 0029's links: a primary key of 679 MB so, 382 MB rebuilt).
    Its migration sets `atomic = False`."""
    return RunPython(_maintenance(table, _reindexed(table, set())), RunPython.noop)


def _reindexed(table, kept):
    """work() for _maintenance(): each index of `table` but those `kept` (names) rebuilt concurrently. A
    backfill that writes every row of a table whose pages are full writes each row anew elsewhere, with a
    new entry in every index: at a million assets, asset_search_joined grew from 150 MB to 352, and "a
    sailboat", looked up in it, took 6.5 ms against 0.22 once rebuilt (docs/benchmarks.md, "Fiftieth
    pass"). Writes go on meanwhile."""

    def work(schema_editor):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s", [table])
            names = sorted(name for (name,) in cursor.fetchall() if name not in kept)
        for name in names:
            schema_editor.execute(f"REINDEX INDEX CONCURRENTLY {schema_editor.quote_name(name)}")

    return work
