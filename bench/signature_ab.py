"""The lists' text searches with and without the text signature, side by side in one process (not a test).

Each round calls every case three ways, interleaved: without the signature (no text has SIGNATURE_TRIGRAMS:
a text is tested on every row walked, as before jobs migration 0028 and library 0023), with it as the lists
use it (where the planner expects the text in no more than SIGNATURE_DENSITY of the rows walked, or the
walk is scattered: i2v/lib/filters.py signature()), and with it always. It prints each case's median in-process time (bench/lists.py's jobs_call/library_call:
page and total through the ORM) and its ratio to the unfiltered first page of the same way.

Usage: DATABASE_URL=postgres://... python bench/signature_ab.py jobs|library [--owner bench] [--runs 9]
(on the 1M data set of docs/benchmarks.md, migrated).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

CASES = {
    "jobs": [
        {}, {"q": "neon portrait"}, {"q": "sailboat", "sort": "cost"}, {"q": "sailboat", "tag": "4k", "sort": "cost"},
        {"q": "sailboat", "favorites": True, "sort": "cost"}, {"q": "sailboat", "hidden": "only", "sort": "cost"},
        {"q": "sailboat"}, {"q": "portrait"}, {"q": "sailboat", "model": "veo-3"}, {"q": "sailboat", "tag": "4k", "model": "veo-3"},
        {"q": "portrait", "sort": "cost"}, {"q": "a", "sort": "cost"}, {"q": "neon", "sort": "cost"},
    ],
    "library": [{}, {"q": "neon portrait"}, {"q": "sailboat"}, {"q": "portrait"}, {"q": "neon alley"}, {"q": "rain"}],
}  # fmt: skip
WAYS = ("without", "with", "always")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("list", choices=sorted(CASES))
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from i2v.lib import filters, pagination
    from lists import jobs_call, library_call

    user = get_user_model().objects.get(username=args.owner)
    call, page_size = (jobs_call, 20) if args.list == "jobs" else (library_call, 60)
    cases = CASES[args.list]
    # (SIGNATURE_TRIGRAMS, SIGNATURE_DENSITY, SCATTERED_DENSITY) each way: without, no text has trigrams enough.
    settings = {
        "without": (10**9, 0, 0), "with": (filters.SIGNATURE_TRIGRAMS, filters.SIGNATURE_DENSITY, filters.SCATTERED_DENSITY),
        "always": (filters.SIGNATURE_TRIGRAMS, 1, 1),
    }  # fmt: skip
    times = {}
    for _ in range(args.runs):
        for way in WAYS:
            filters.SIGNATURE_TRIGRAMS, filters.SIGNATURE_DENSITY, filters.SCATTERED_DENSITY = settings[way]
            pagination._estimates.clear()  # the querysets the lists keep a minute were built the other way
            for n, given in enumerate(cases):
                listed = call(user, given, page_size)
                listed()  # this way's querysets built, and its estimates made
                start = time.perf_counter()
                listed()
                times.setdefault((n, way), []).append((time.perf_counter() - start) * 1000)
    medians = {key: statistics.median(values) for key, values in times.items()}
    print("| filters | " + " | ".join(f"{way} ms" for way in WAYS) + " | " + " | ".join(f"{way} / first page" for way in WAYS) + " |")
    print("| --- |" + " ---: |" * (2 * len(WAYS)))
    for n, given in enumerate(cases):
        ms = [medians[(n, way)] for way in WAYS]
        ratios = [medians[(n, way)] / medians[(0, way)] for way in WAYS]
        name = ", ".join(f"{k}={v}" for k, v in given.items()) or "first page (no filter)"
        print(f"| {name} | " + " | ".join(f"{m:.2f}" for m in ms) + " | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")


if __name__ == "__main__":
    main()
