"""Benchmark (not a test): what reading a JSON body costs past the parser (i2v/lib/jsonbody.py loads():
its depth bound and its check for lone surrogates, one walk), for the largest New pipeline body a
request may carry (500 prompts of about 1,900 characters), ASCII and accented. Prints Markdown.

Usage: python bench/json_bodies.py [--runs 7]
"""

import argparse
import json
import os
import statistics
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

PROMPTS = {"ASCII": "a red fox at dusk, cinematic lighting ", "accented": "un renard roux au crépuscule, lumière "}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from i2v.lib.jsonbody import loads

    print("| prompts | body bytes | json.loads() ms | loads() ms | added ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, prompt in PROMPTS.items():
        body = json.dumps({"name": "run", "sources": list(range(1, 51)), "prompts": [prompt * 50] * 500}).encode()
        plain = statistics.median(timeit.timeit(lambda: json.loads(body), number=20) / 20 for _ in range(args.runs)) * 1000
        ours = statistics.median(timeit.timeit(lambda: loads(body), number=20) / 20 for _ in range(args.runs)) * 1000
        print(f"| {label} | {len(body):,} | {plain:.2f} | {ours:.2f} | {ours - plain:.2f} |")


if __name__ == "__main__":
    main()
