"""Benchmark (not a test): what loading every model's provider with the web application costs a web
process (i2v/wsgi.py load_providers()), and what it spares the first New pipeline page, which asks each
model's provider whether its key is set (jobs/forms.py _stage_models()). Each run is a fresh Python
process: the application loaded as the servers load it (i2v.wsgi) or without the providers (Django's
get_wsgi_application() alone), then the New pipeline form's model lists made. Medians of --runs; the
process's peak RSS (ru_maxrss). Prints Markdown.

Usage: python bench/web_start.py [--runs 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, resource, time
started = time.perf_counter()
if {with_providers}:
    import i2v.wsgi
else:
    import django
    django.setup()
    from django.core.wsgi import get_wsgi_application
    get_wsgi_application()
loaded = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from jobs.forms import _stage_models
_stage_models("i2i"), _stage_models("i2v")
print(json.dumps({{"load": loaded - started, "first": time.perf_counter() - loaded, "rss": rss / 1024}}))
"""


def probe(with_providers):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "i2v.settings"}
    code = PROBE.format(with_providers=with_providers)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Fresh processes, median of {args.runs}\n")
    print("| application | load (s) | RSS after load (MB) | New pipeline's model lists, first time (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for label, with_providers in (("i2v.wsgi (providers loaded)", True), ("get_wsgi_application() alone", False)):
        runs = [probe(with_providers) for _ in range(args.runs)]
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"| {label} | {median['load']:.2f} | {median['rss']:.0f} | {median['first'] * 1000:.1f} |")


if __name__ == "__main__":
    main()
