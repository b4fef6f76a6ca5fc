"""What a text's fetch costs against what the planner expects of it (not a test).

A first page whose planner's estimate is small fetches its matches up to a bound, through the trigram
index (i2v/lib/pagination.py, first_page()). This prints, for each text, the planner's estimate and cost of
that fetch as the list runs it (the owner's visible rows holding the text, the first 1,001), and the time
EXPLAIN ANALYZE measures for it (median of --runs), with the rows it found: what says whether the planner's
numbers could tell a costly fetch from a cheap one.

Usage: DATABASE_URL=postgres://.../i2v_lsql_1m python bench/text_fetch.py [--table jobs_pipeline] [--owner bench]
                                                                           [--runs 3] "neon portrait" xyzzy ...
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

TABLES = ("jobs_pipeline", "library_asset")


def explained(sql, params, analyze):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) {sql}", params)
        found = cursor.fetchone()[0]
    return (found if isinstance(found, list) else json.loads(found))[0]  # psycopg parses json; a text column would not be


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--table", choices=TABLES, default=TABLES[0])
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    owner = get_user_model().objects.get(username=args.owner).pk
    sql = f"SELECT created_at, id FROM {args.table} WHERE owner_id = %s AND NOT is_hidden AND search_text LIKE %s LIMIT 1001"
    print("| text | estimate | planner's cost | time, ms | matches |\n| --- | ---: | ---: | ---: | ---: |")
    for text in args.texts:
        params = (owner, f"%{text.lower()}%")
        plan = explained(sql, params, analyze=False)["Plan"]
        fetch = plan["Plans"][0] if plan["Node Type"] == "Limit" else plan
        runs = [explained(sql, params, analyze=True) for _ in range(args.runs)]
        time_ms = statistics.median(run["Execution Time"] for run in runs)
        found = runs[-1]["Plan"]["Actual Rows"]
        matches = f"{found - 1:,}+" if found > 1000 else f"{found:,}"
        print(f"| `{text}` | {fetch['Plan Rows']:,.0f} | {fetch['Total Cost']:,.0f} | {time_ms:.2f} | {matches} |")


if __name__ == "__main__":
    main()
