"""What joining a row's text costs PostgreSQL (not a test): the expression of the joined words' index
(i2v/lib/migrations.py joined_text() of JOINED_TYPOGRAPHY, as filters.py joined_sql() reads it) against the text itself, ASCII's marks alone, and the other ways of
reading typography's, over every row of the pipelines and of the assets. Prints Markdown.

Each expression is computed for every row by a count with no index (index and bitmap scans off), no
parallel workers and no JIT: `SELECT count(*) FROM t WHERE <expression> LIKE '%zzqq%'`; --runs rounds,
each expression once a round, the median in µs a row. What a row found through the index costs to
recheck, and what an insert or an update of search_text costs to index.

Usage: DATABASE_URL=postgres://... python bench/joined_text.py [--runs 3]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")


def expressions():
    from i2v.lib.migrations import JOINED_ASCII, JOINED_TYPOGRAPHY, joined_text

    ascii_marks = JOINED_ASCII
    typography = JOINED_TYPOGRAPHY[2]
    spaces = "".join(c for c in typography if c.isspace())
    return {
        "the text itself": "search_text",
        "ASCII's 38 replace()": joined_text("search_text", *ascii_marks),
        f"those and one replace() for each of typography's {len(typography)}": joined_text(
            "search_text", ascii_marks[0] + spaces, ascii_marks[1] + "".join(c for c in typography if c not in spaces)
        ),
        "those and one regexp_replace() of typography's": joined_text(
            f"regexp_replace(search_text, '[{typography}]', 'x', 'g')", *ascii_marks
        ),
        "the index's (regexp_replace() where not all ASCII)": joined_text("search_text", *JOINED_TYPOGRAPHY),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    exprs = expressions()
    tables = ("jobs_pipeline", "library_asset")
    times = {(table, name): [] for table in tables for name in exprs}
    with connection.cursor() as cursor:
        for setting in ("max_parallel_workers_per_gather = 0", "enable_bitmapscan = off", "enable_indexscan = off", "jit = off"):
            cursor.execute(f"SET {setting}")
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*), count(*) FILTER (WHERE octet_length(search_text) <> length(search_text)) FROM {table}")
            counts[table] = cursor.fetchone()
        for _ in range(args.runs):
            for table in tables:
                for name, expression in exprs.items():
                    start = time.perf_counter()
                    cursor.execute(f"SELECT count(*) FROM {table} WHERE {expression} LIKE '%%zzqq%%'")
                    cursor.fetchone()
                    times[(table, name)].append(time.perf_counter() - start)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}; median of {args.runs}\n")
    print("| expression | " + " | ".join(f"{t} ({counts[t][0]:,} rows, {counts[t][1]:,} not all ASCII), µs a row" for t in tables) + " |")
    print("| --- |" + " ---: |" * len(tables))
    for name in exprs:
        cells = [f"{statistics.median(times[(t, name)]) / max(counts[t][0], 1) * 1e6:.2f}" for t in tables]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
