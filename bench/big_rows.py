"""The Jobs list's first page when its newest pipelines are big (not a test): does a row cost more
for a pipeline of 500 steps than for one of 2?

Adds --big pipelines of --steps steps and as many outputs to the owner once (named "bench: big
rows N", reused after; delete them to start again), newer than any other, so they are the first
page. Then, in-process and interleaved, --runs times each: the Jobs first page (jobs_list(), its
keys and rows, as the view asks) with them at the top, and the same list with hidden=only, which
leaves them out (the seeded hidden pipelines have 1 to 3 steps), as the small rows' baseline.
Prints the medians of time and SQL time, and their ratio.

Usage: DATABASE_URL=postgres://... python bench/big_rows.py [--owner bench] [--big 20] [--steps 500] [--runs 15]
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")


def big_pipelines(user, count, steps):
    from django.utils import timezone

    from conftest import make_big_pipeline

    made = user.pipelines.filter(name__startswith="bench: big rows ").count()
    for n in range(made, count):
        pipeline = make_big_pipeline(user, images=steps // 2, videos=steps - steps // 2, failed=0, outputs=steps, name=f"bench: big rows {n}")
        # Newer than anything seeded, so that they are the first page.
        user.pipelines.filter(pk=pipeline.pk).update(created_at=timezone.now())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL): the goals are for that stack.")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from lists import interleaved, jobs_call, measured

    user = get_user_model().objects.get(username=args.owner)
    big_pipelines(user, args.big, args.steps)
    cases = [("first page: big pipelines", {}), ("hidden=only: small ones", {"hidden": "only"})]
    samples = interleaved([measured(jobs_call(user, filters, 20)) for _, filters in cases], args.runs)[1]
    print(f"{args.big} pipelines of {args.steps} steps and {args.steps} outputs on top; {args.runs} interleaved runs (medians)\n")
    print("| page | ms | SQL ms |")
    print("| --- | ---: | ---: |")
    results = []
    for (label, _), taken in zip(cases, samples):
        wall, sql = statistics.median(s[0] for s in taken), statistics.median(s[1] for s in taken)
        results.append((wall, sql))
        print(f"| {label} | {wall:.2f} | {sql:.2f} |")
    (big_wall, big_sql), (small_wall, small_sql) = results
    print(f"\nbig / small: {big_wall / small_wall:.2f}x the time, {big_sql / small_sql:.2f}x the SQL")


if __name__ == "__main__":
    main()
