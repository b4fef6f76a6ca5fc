"""Benchmark of jobs migration 0020 (not a test): how soon autovacuum makes a new 2,000-step pipeline's
steps all-visible in a table of 1.5 million, at the server's defaults and at the migration's thresholds.

The pipeline detail counts a pipeline's steps from an index alone (an index-only scan), which reads the
row of every entry on a page the visibility map doesn't call all-visible; only a vacuum sets that. The
shared server of these machines runs with autovacuum off, so this starts a private PostgreSQL 15 cluster
of its own (autovacuum on, the server's defaults, as in production's postgres image), makes two tables
shaped like jobs_step with its step_pipeline_order index, each --rows rows, vacuumed, one left at the
defaults and one given the migration's own storage parameters, adds --steps rows of a new pipeline to
each, and every 5 s for --wait seconds prints, per table, whether autovacuum has visited it, and what the
new pipeline's summary reads beyond the index (heap fetches) and costs (EXPLAIN ANALYZE, median of 5).

Usage (as root: the cluster is made with `su postgres -c initdb`):
       python bench/vacuum_soon.py [--rows 1500000] [--steps 2000] [--wait 150] [--port 55439]
"""

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hot_paths import explained, fetches_in  # noqa: E402
from i2v.testing.workers import PrivatePostgres  # noqa: E402

TABLES = ("steps_default", "steps_soon")
SHAPE = """
CREATE TABLE {t} (id bigserial PRIMARY KEY, pipeline_id int NOT NULL, "order" int NOT NULL,
                  kind varchar(20) NOT NULL, status varchar(20) NOT NULL, config jsonb NOT NULL);
CREATE INDEX {t}_pipeline_order ON {t} (pipeline_id, "order", id) INCLUDE (kind, status)
"""
FILL = """
INSERT INTO {t} (pipeline_id, "order", kind, status, config)
SELECT 1 + n / 5, n %% 5, CASE WHEN n %% 2 = 0 THEN 'i2i' ELSE 'i2v' END, 'completed',
       jsonb_build_object('prompt', repeat('a sailboat at dusk ', 8))
FROM generate_series(%s, %s) AS n
"""
SUMMARY = "SELECT kind, status, count(*) FROM {t} WHERE pipeline_id = %s GROUP BY 1, 2"


def summary_plan(cursor, table, pipeline_id):
    """(heap fetches, median execution ms of 5) of the new pipeline's summary."""
    times = []
    for _ in range(5):
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {SUMMARY.format(t=table)}", [pipeline_id])
        plan = explained(cursor.fetchone()[0])
        times.append(plan["Execution Time"])
    return fetches_in(plan), statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--wait", type=int, default=150)
    parser.add_argument("--port", type=int, default=55439)
    args = parser.parse_args()
    soon = importlib.import_module("jobs.migrations.0020_vacuum_soon").SOON
    server = PrivatePostgres(args.port)
    server.init()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW autovacuum_naptime")
            naptime = cursor.fetchone()[0]
            for table in TABLES:
                for statement in SHAPE.format(t=table).split(";"):
                    cursor.execute(statement)
                cursor.execute(FILL.format(t=table), [0, args.rows - 1])
                cursor.execute(f"VACUUM ANALYZE {table}")  # an older table, all of it vacuumed
            options = ", ".join(f"{name} = {value}" for name, value in soon.items())
            cursor.execute(f"ALTER TABLE steps_soon SET ({options})")
            pipeline_id = args.rows // 5 + 10
            started = time.monotonic()
            for table in TABLES:
                cursor.execute(
                    f"INSERT INTO {table} (pipeline_id, \"order\", kind, status, config) "
                    "SELECT %s, n, 'i2v', 'completed', '{}'::jsonb FROM generate_series(1, %s) AS n", [pipeline_id, args.steps]
                )  # fmt: skip
            print(f"{args.rows:,} rows per table, then {args.steps:,} of a new pipeline; autovacuum on, naptime {naptime}; "
                  f"steps_soon: {options}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")  # fmt: skip
            print("| seconds after the insert | table | autovacuumed | summary's heap fetches | summary ms (EXPLAIN ANALYZE) |")
            print("| ---: | --- | --- | ---: | ---: |")
            while True:
                elapsed = time.monotonic() - started
                for table in TABLES:
                    cursor.execute("SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = %s", [table])
                    vacuums = cursor.fetchone()[0]
                    fetched, ms = summary_plan(cursor, table, pipeline_id)
                    print(f"| {elapsed:.0f} | {table} | {'yes' if vacuums else 'no'} | {fetched:,} | {ms:.2f} |", flush=True)
                if elapsed > args.wait:
                    break
                time.sleep(15)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
