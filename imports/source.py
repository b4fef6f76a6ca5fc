"""Reading an i2v database: SQLite (i2v's default, wan_jobs.db) or PostgreSQL.

Plain DB-API, not SQLAlchemy Core: the standard library's sqlite3 and psycopg 3
(already the app's PostgreSQL driver) are all it takes to run a handful of
keyset-paginated SELECTs over known columns of six tables. The two drivers
differ in only three ways, handled here: the parameter style, how a table's
columns are listed, and how a connection is made read-only. SQLAlchemy would
add a dependency, and a layer to learn, for no query it would write better.

The source is only ever read: a SQLite file is opened with mode=ro (a wrong
path is an error, never a new empty database) and PostgreSQL sessions are
read-only. Columns an older i2v did not have yet (tags, is_favorite...) read
as NULL, and a table it did not have is simply not imported.
"""

import sqlite3
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from django.core.exceptions import ImproperlyConfigured
from psycopg.rows import dict_row

from i2v.lib.env import database_from_url

# The columns the importer reads, per i2v table (app/models.py of i2v).
COLUMNS = {
    "pipelines": (
        "id", "name", "status", "mode", "checkpoints", "tags", "is_favorite", "is_hidden", "description",
        "created_at", "updated_at",
    ),
    "pipeline_steps": (
        "id", "pipeline_id", "step_type", "step_order", "config", "status", "inputs", "outputs", "cost_estimate",
        "cost_actual", "error_message", "created_at", "updated_at",
    ),
    "jobs": (
        "id", "image_url", "motion_prompt", "negative_prompt", "resolution", "duration_sec", "model", "provider",
        "wan_request_id", "wan_status", "wan_video_url", "local_video_path", "error_message", "created_at",
        "updated_at",
    ),
    "image_jobs": (
        "id", "source_image_url", "prompt", "negative_prompt", "model", "aspect_ratio", "quality", "num_images",
        "request_id", "status", "result_image_urls", "local_image_paths", "error_message", "created_at", "updated_at",
    ),
    "batch_jobs": (
        "id", "job_id", "template_id", "output_type", "quantity", "config", "status", "completed_items",
        "failed_items", "credits_charged", "credits_refunded", "error_message", "created_at", "started_at",
        "finished_at", "updated_at",
    ),
    "batch_job_items": (
        "id", "batch_job_id", "item_index", "prompt", "caption", "variation_params", "status", "result_url",
        "thumbnail_url", "error_message", "started_at", "finished_at", "created_at",
    ),
}  # fmt: skip


class SourceError(Exception):
    """The i2v database can't be opened or read; the message says why."""


def open_source(url):
    """A Source for an i2v database URL: sqlite:///wan_jobs.db, a path to the file,
    or postgresql://user:pass@host/db (a SQLAlchemy driver suffix such as
    postgresql+asyncpg:// is accepted and ignored)."""
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "pgsql"):
        return PostgresSource(url)
    if scheme == "sqlite":
        try:
            path = database_from_url("sqlite://" + url.split("://", 1)[1], name="the i2v database URL")["NAME"]
        except ImproperlyConfigured as exc:
            raise SourceError(str(exc)) from None
        return SqliteSource(path)
    if scheme and len(scheme) > 1:  # "c:" is a Windows drive, not a scheme
        raise SourceError(f"Unsupported database URL {url!r}: use sqlite:///path/to/wan_jobs.db or postgresql://...")
    return SqliteSource(url)


class Source:
    """Keyset-paginated reads of one i2v database."""

    placeholder = "?"

    def __init__(self):
        self._columns = {}

    def has(self, table):
        return bool(self.columns(table))

    def columns(self, table):
        """The columns of COLUMNS[table] this database has (empty: no such table)."""
        if table not in self._columns:
            present = self._present_columns(table)
            self._columns[table] = [c for c in COLUMNS[table] if c in present] if "id" in present else []
        return self._columns[table]

    def count(self, table):
        return self._query(f'SELECT COUNT(*) AS n FROM "{table}"')[0]["n"] if self.has(table) else 0

    def rows(self, table, after_id, limit):
        """Up to `limit` rows with id > after_id, in id order."""
        sql = f'SELECT {self._select(table)} FROM "{table}" WHERE id > {self.placeholder} ORDER BY id LIMIT {self.placeholder}'
        return self._query(sql, (after_id, limit))

    def children(self, table, parent_column, parent_ids, order_column):
        """Rows of `table` belonging to `parent_ids`, grouped: {parent id: [rows in order]}."""
        grouped = {parent: [] for parent in parent_ids}
        if not parent_ids or not self.has(table):
            return grouped
        marks = ", ".join([self.placeholder] * len(parent_ids))
        sql = (
            f'SELECT {self._select(table)} FROM "{table}" WHERE "{parent_column}" IN ({marks}) '
            f'ORDER BY "{parent_column}", "{order_column}", id'
        )
        for row in self._query(sql, tuple(parent_ids)):
            grouped[row[parent_column]].append(row)
        return grouped

    def landmarks(self):
        """What identifies this database wherever it is copied: the first row of each table.

        A copy of wan_jobs.db moved to another folder or server is the same
        source; an unrelated database is not.
        """
        marks = []
        for table in ("pipelines", "jobs", "image_jobs", "batch_jobs"):
            if self.has(table):
                first = self._query(f'SELECT id, created_at FROM "{table}" ORDER BY id LIMIT 1')
                if first:
                    created = first[0]["created_at"]
                    created = created.isoformat() if hasattr(created, "isoformat") else str(created)
                    marks.append(f"{table}#{first[0]['id']}@{created}")
        return marks

    def _select(self, table):
        present = set(self.columns(table))
        return ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in COLUMNS[table])

    def _query(self, sql, params=()):
        try:
            return self._run(sql, params)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise SourceError(f"Reading the i2v database failed: {exc}".strip()) from None

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SqliteSource(Source):
    def __init__(self, path):
        super().__init__()
        self.path = Path(path).expanduser().resolve()
        self.label = str(self.path)
        if not self.path.is_file():
            raise SourceError(f"No i2v database at {self.path}.")
        uri = urlunsplit(("file", "", quote(str(self.path)), "mode=ro", ""))
        try:
            self.connection = sqlite3.connect(uri, uri=True)
            # Text that isn't valid UTF-8 (an old bug, a bad write) must not stop the import.
            self.connection.text_factory = lambda raw: raw.decode("utf-8", "replace")
            self.connection.row_factory = sqlite3.Row
            self.connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise SourceError(f"{self.path} is not a readable SQLite database: {exc}") from None

    def _present_columns(self, table):
        return {row["name"] for row in self._query(f'PRAGMA table_info("{table}")')}

    def _run(self, sql, params):
        return [dict(row) for row in self.connection.execute(sql, params).fetchall()]


class PostgresSource(Source):
    placeholder = "%s"

    def __init__(self, url):
        super().__init__()
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        try:
            db = database_from_url(urlunsplit((scheme, *parts[1:])), name="the i2v database URL")
        except ImproperlyConfigured as exc:
            raise SourceError(str(exc)) from None
        # Shown in the summary and the log: never the password.
        self.label = f"postgresql://{db['USER'] + '@' if db['USER'] else ''}{db['HOST'] or 'localhost'}{':' + db['PORT'] if db['PORT'] else ''}/{db['NAME']}"
        try:
            self.connection = psycopg.connect(
                dbname=db["NAME"], user=db["USER"] or None, password=db["PASSWORD"] or None,
                host=db["HOST"] or None, port=db["PORT"] or None, row_factory=dict_row, autocommit=True,
                connect_timeout=10, options="-c default_transaction_read_only=on", **db["OPTIONS"],
            )  # fmt: skip
        except psycopg.Error as exc:
            raise SourceError(f"Can't connect to {self.label}: {str(exc).strip()}") from None

    def _present_columns(self, table):
        rows = self._query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
        return {row["column_name"] for row in rows}

    def _run(self, sql, params):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
