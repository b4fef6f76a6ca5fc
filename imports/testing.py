"""An i2v-shaped database, for the import tests and bench/import_i2v.py.

Its tables have the columns and types i2v's SQLAlchemy models declare
(app/models.py of github.com/YallaPapi/i2v), written here as plain DDL for
SQLite and PostgreSQL: JSON kept as text, booleans of pipelines as integers,
dates as SQLAlchemy stores them (naive UTC; text on SQLite).
"""

import datetime
import json
import sqlite3

# (column, SQLite type, PostgreSQL type); the first column is the primary key.
SCHEMA = {
    "users": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"), ("email", "VARCHAR(255) NOT NULL", "VARCHAR(255) NOT NULL"),
        ("hashed_password", "VARCHAR(255) NOT NULL", "VARCHAR(255) NOT NULL"), ("name", "VARCHAR(255)", "VARCHAR(255)"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
    "pipelines": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"), ("name", "VARCHAR(255) NOT NULL", "VARCHAR(255) NOT NULL"),
        ("status", "VARCHAR(20) NOT NULL", "VARCHAR(20) NOT NULL"), ("mode", "VARCHAR(20) NOT NULL", "VARCHAR(20) NOT NULL"),
        ("checkpoints", "TEXT", "TEXT"), ("tags", "TEXT", "TEXT"),
        ("is_favorite", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("is_hidden", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"), ("description", "TEXT", "TEXT"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"), ("updated_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
    "pipeline_steps": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"),
        ("pipeline_id", "INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE", "INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE"),
        ("step_type", "VARCHAR(20) NOT NULL", "VARCHAR(20) NOT NULL"), ("step_order", "INTEGER NOT NULL", "INTEGER NOT NULL"),
        ("config", "TEXT", "TEXT"), ("status", "VARCHAR(20) NOT NULL", "VARCHAR(20) NOT NULL"), ("inputs", "TEXT", "TEXT"),
        ("outputs", "TEXT", "TEXT"), ("cost_estimate", "NUMERIC(10, 4)", "NUMERIC(10, 4)"),
        ("cost_actual", "NUMERIC(10, 4)", "NUMERIC(10, 4)"), ("error_message", "TEXT", "TEXT"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"), ("updated_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
    "jobs": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"), ("image_url", "VARCHAR NOT NULL", "VARCHAR NOT NULL"),
        ("motion_prompt", "VARCHAR NOT NULL", "VARCHAR NOT NULL"), ("negative_prompt", "VARCHAR", "VARCHAR"),
        ("resolution", "VARCHAR NOT NULL DEFAULT '1080p'", "VARCHAR NOT NULL DEFAULT '1080p'"),
        ("duration_sec", "INTEGER NOT NULL DEFAULT 5", "INTEGER NOT NULL DEFAULT 5"),
        ("model", "VARCHAR NOT NULL DEFAULT 'wan'", "VARCHAR NOT NULL DEFAULT 'wan'"),
        ("provider", "VARCHAR NOT NULL DEFAULT 'fal'", "VARCHAR NOT NULL DEFAULT 'fal'"), ("wan_request_id", "VARCHAR", "VARCHAR"),
        ("wan_status", "VARCHAR NOT NULL DEFAULT 'pending'", "VARCHAR NOT NULL DEFAULT 'pending'"),
        ("wan_video_url", "VARCHAR", "VARCHAR"), ("local_video_path", "VARCHAR", "VARCHAR"), ("error_message", "VARCHAR", "VARCHAR"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"), ("updated_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
    "image_jobs": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"), ("source_image_url", "VARCHAR NOT NULL", "VARCHAR NOT NULL"),
        ("prompt", "VARCHAR NOT NULL", "VARCHAR NOT NULL"), ("negative_prompt", "VARCHAR", "VARCHAR"),
        ("model", "VARCHAR NOT NULL DEFAULT 'gpt-image-1.5'", "VARCHAR NOT NULL DEFAULT 'gpt-image-1.5'"),
        ("aspect_ratio", "VARCHAR NOT NULL DEFAULT '9:16'", "VARCHAR NOT NULL DEFAULT '9:16'"),
        ("quality", "VARCHAR NOT NULL DEFAULT 'high'", "VARCHAR NOT NULL DEFAULT 'high'"),
        ("num_images", "INTEGER NOT NULL DEFAULT 1", "INTEGER NOT NULL DEFAULT 1"), ("request_id", "VARCHAR", "VARCHAR"),
        ("status", "VARCHAR NOT NULL DEFAULT 'pending'", "VARCHAR NOT NULL DEFAULT 'pending'"),
        ("result_image_urls", "VARCHAR", "VARCHAR"), ("local_image_paths", "VARCHAR", "VARCHAR"), ("error_message", "VARCHAR", "VARCHAR"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"), ("updated_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
    "batch_jobs": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"), ("job_id", "VARCHAR(36) NOT NULL", "VARCHAR(36) NOT NULL"),
        ("user_id", "INTEGER NOT NULL", "INTEGER NOT NULL"), ("template_id", "VARCHAR(255)", "VARCHAR(255)"),
        ("model_profile_id", "INTEGER", "INTEGER"),
        ("output_type", "VARCHAR(20) NOT NULL DEFAULT 'image'", "VARCHAR(20) NOT NULL DEFAULT 'image'"),
        ("quantity", "INTEGER NOT NULL", "INTEGER NOT NULL"), ("config", "TEXT", "TEXT"),
        ("status", "VARCHAR(20) NOT NULL DEFAULT 'queued'", "VARCHAR(20) NOT NULL DEFAULT 'queued'"),
        ("completed_items", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("failed_items", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("pending_items", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("credits_charged", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("credits_refunded", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
        ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"), ("started_at", "DATETIME", "TIMESTAMP"),
        ("finished_at", "DATETIME", "TIMESTAMP"), ("updated_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
        ("error_message", "TEXT", "TEXT"),
    ],
    "batch_job_items": [
        ("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"),
        ("batch_job_id", "INTEGER NOT NULL REFERENCES batch_jobs(id) ON DELETE CASCADE", "INTEGER NOT NULL REFERENCES batch_jobs(id) ON DELETE CASCADE"),
        ("item_index", "INTEGER NOT NULL", "INTEGER NOT NULL"), ("prompt", "TEXT", "TEXT"), ("caption", "TEXT", "TEXT"),
        ("variation_params", "TEXT", "TEXT"), ("status", "VARCHAR(20) NOT NULL DEFAULT 'pending'", "VARCHAR(20) NOT NULL DEFAULT 'pending'"),
        ("result_url", "VARCHAR(1000)", "VARCHAR(1000)"), ("thumbnail_url", "VARCHAR(1000)", "VARCHAR(1000)"),
        ("error_message", "TEXT", "TEXT"), ("started_at", "DATETIME", "TIMESTAMP"), ("finished_at", "DATETIME", "TIMESTAMP"),
        ("duration_ms", "INTEGER", "INTEGER"), ("created_at", "DATETIME NOT NULL", "TIMESTAMP NOT NULL"),
    ],
}  # fmt: skip
# Indexes i2v declares on the tables the importer reads by parent.
INDEXES = [
    "CREATE INDEX idx_step_order ON pipeline_steps (pipeline_id, step_order)",
    "CREATE INDEX idx_batch_item_index ON batch_job_items (batch_job_id, item_index)",
]
START = datetime.datetime(2025, 1, 6, 9, 30)


def stamp(moment):
    """A date as SQLAlchemy's DateTime keeps it in SQLite: naive, microseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class I2vDatabase:
    """Rows written into an i2v-shaped database. JSON arguments may be given as
    Python values (dumped here) or as text, which is written as it is, broken or not."""

    def __init__(self, connection, dialect):
        self.connection = connection
        self.dialect = dialect
        self.mark = "?" if dialect == "sqlite" else "%s"
        self.clock = START

    @classmethod
    def sqlite(cls, path):
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA synchronous=OFF")  # a throwaway file: no fsync per commit
        return cls(connection, "sqlite")

    @classmethod
    def postgres(cls, conninfo):
        import psycopg

        return cls(psycopg.connect(conninfo, autocommit=False), "postgres")

    def create_schema(self):
        column = 1 if self.dialect == "sqlite" else 2
        for table, columns in SCHEMA.items():
            body = ", ".join(f"{spec[0]} {spec[column]}" for spec in columns)
            self.connection.execute(f"CREATE TABLE {table} ({body})")
        for sql in INDEXES:
            self.connection.execute(sql)
        self.connection.commit()
        return self

    def tick(self, minutes=7):
        self.clock += datetime.timedelta(minutes=minutes)
        return self.clock if self.dialect == "postgres" else stamp(self.clock)

    def insert(self, table, **values):
        return self.insert_many(table, [values])[0]

    def insert_many(self, table, rows):
        """Insert rows (dicts); their ids, in order."""
        ids = []
        for values in rows:
            values = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in values.items()}
            names = ", ".join(values)
            marks = ", ".join([self.mark] * len(values))
            cursor = self.connection.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id", tuple(values.values()))
            ids.append(cursor.fetchone()[0])
        self.connection.commit()
        return ids

    def pipeline(self, steps=(), **values):
        """A pipeline row with its steps (dicts of pipeline_steps columns); its id."""
        created = self.tick()
        row = {
            "name": "Pipeline", "status": "completed", "mode": "auto", "tags": [], "is_favorite": 0, "is_hidden": 0,
            "created_at": created, "updated_at": self.tick(1), **values,
        }  # fmt: skip
        pipeline_id = self.insert("pipelines", **row)
        for order, step in enumerate(steps):
            defaults = {
                "pipeline_id": pipeline_id, "step_type": "i2i", "step_order": order, "status": "completed",
                "config": {"model": "gpt-image-1.5"}, "inputs": {}, "outputs": {}, "cost_actual": "0.0400",
                "created_at": created, "updated_at": self.tick(1),
            }  # fmt: skip
            self.insert("pipeline_steps", **{**defaults, **step})
        return pipeline_id

    def close(self):
        self.connection.close()
