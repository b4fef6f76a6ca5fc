"""Benchmark of the Jobs and Library pages in Chromium at scale (not a test): prints Markdown.

Against an existing database (a copy of the 1M-row bench data, see docs/benchmarks.md),
serves the app with production's server (i2v/web.py) on loopback and drives /usr/bin/chromium through Playwright:

- LCP (largest contentful paint) of /jobs/ and /library/: the first load (list cache cold)
  and the median of --runs loads after it;
- after loading --rows rows of Jobs and --rows tiles of the Library (pages of 500), the
  elements in the document, the DOM nodes and the JS heap (after a garbage collection) and
  the renderer process's PSS, with static/js/lists.js's windowing and without it
  (data-window removed), side by side (--windowed-only: with it only, and nothing else);
- the live checks an idle Jobs page makes in 10 s (one /jobs/watch request at most every 2 s).

Usage: DATABASE_URL=postgres://.../i2v_lfront_1m REDIS_URL=redis://127.0.0.1:6379/4 \\
       python bench/long_lists.py --owner bench [--rows 5000] [--runs 5] [--windowed-only]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

LCP = """() => new Promise(resolve => {
  new PerformanceObserver(list => {
    const entries = list.getEntries();
    resolve(entries[entries.length - 1].startTime);
  }).observe({ type: "largest-contentful-paint", buffered: true });
  setTimeout(() => resolve(null), 5000);
})"""
# ids(), where there is one, counts windowed items without re-creating them (items() parses them back).
LOADED = "n => (i2vLists.ids || i2vLists.items)(document.querySelector('[data-window], #rows, #grid')).length >= n"


def session_cookie(owner):
    """A logged-in session for `owner`, made the way the test client makes one
    (and the static files collected, as production serves them)."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.core.management import call_command
    from django.test import Client

    call_command("collectstatic", interactive=False, verbosity=0)  # the served pages name hashed static files
    client = Client()
    client.force_login(get_user_model().objects.get(username=owner))
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    connection.close()
    return settings.SESSION_COOKIE_NAME, value


def serve(port):
    # Production's server (i2v/web.py, granian), 2 workers as on this 2-core box.
    import hot_paths

    env = {**os.environ, "RATE_LIMITS": "0", "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", "WEB_BIND": f"127.0.0.1:{port}",
           "WEB_WORKERS": "2", "WEB_ACCESS_LOG": "0", "LOG_LEVEL": "WARNING"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "i2v.web"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return hot_paths.started(proc, port, "the web server")


def new_page(browser, base, cookie):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base}])
    context.set_default_timeout(120_000)
    return context, context.new_page()


def lcp(browser, base, cookie, path):
    context, page = new_page(browser, base, cookie)
    page.goto(base + path, wait_until="load")
    value = page.evaluate(LCP)
    context.close()
    return value


def renderer_mb():
    """Proportional set size in MB of the Chromium renderers this process started (one page open: its renderer).
    The JS heap leaves out the DOM (Blink's own heap), so a list's memory shows here."""
    children = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
        except (ValueError, OSError):
            continue
    total, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"--type=renderer" not in f.read():
                    continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            continue
    return total / 1024


def weigh(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    elements = page.evaluate("document.getElementsByTagName('*').length")
    return elements, int(metrics["Nodes"]), metrics["JSHeapUsedSize"] / 1048576, renderer_mb()


def load_rows(browser, base, cookie, path, rows, windowed, budget_s):
    """(elements, nodes, heap MB, renderer MB, seconds, rows loaded) after scrolling through `rows` rows
    in pages of 500, or as many as loaded within `budget_s` seconds."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context, page = new_page(browser, base, cookie)
    page.goto(base + path + "?page_size=500")
    if not windowed:
        page.evaluate("document.querySelector('[data-window]').removeAttribute('data-window')")
    started = time.perf_counter()
    for loaded in range(500, rows + 1, 500):
        left_ms = (budget_s - (time.perf_counter() - started)) * 1000
        try:
            page.wait_for_function(LOADED, arg=loaded, timeout=max(left_ms, 1))
        except PlaywrightTimeout:
            break
        print(f"{path} windowed={windowed}: {loaded:,} loaded after {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if loaded < rows:  # not after the last: a page more would be measured half-settled
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(1_500)
    seconds = time.perf_counter() - started
    count = page.evaluate("(i2vLists.ids || i2vLists.items)(document.querySelector('#rows, #grid')).length")
    result = (*weigh(page), seconds, count)
    context.close()
    return result


def idle_checks(browser, base, cookie):
    context, page = new_page(browser, base, cookie)
    paths = []
    page.on("request", lambda r: paths.append(r.url.split("?")[0].removeprefix(base)))
    page.goto(base + "/jobs/?status=running")  # a first page of rows at work
    page.wait_for_timeout(1_000)
    at_work = page.evaluate("document.querySelectorAll('[data-watch]').length")
    start = len(paths)
    page.wait_for_timeout(10_000)
    checks = sum(1 for p in paths[start:] if p == "/jobs/watch")
    context.close()
    return at_work, checks


def watch_cost(base, cookie, owner, runs=50):
    """Server round trip of one /jobs/watch for 22 rows: all unchanged (204) and all changed (22 rows).

    The figure behind choosing short requests over Server-Sent Events (docs/benchmarks.md):
    a check costs this much once per page every 2-6 s, where a stream would hold one of
    gunicorn's threads (4 workers x 4 threads) for as long as a tab stays open."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    user = get_user_model().objects.get(username=owner)
    rows = list(user.pipelines.order_by("-created_at", "-id").values_list("pk", "updated_at")[:22])
    connection.close()
    from jobs.listing import row_version

    fresh = ",".join(f"{pk}:{row_version(at)}" for pk, at in rows)
    stale = ",".join(f"{pk}:0" for pk, _ in rows)
    result = {}
    for label, value in (("unchanged", fresh), ("changed", stale)):
        times = []
        for _ in range(runs):
            request = urllib.request.Request(f"{base}/jobs/watch?watch={value}", headers={"Cookie": f"{cookie[0]}={cookie[1]}", "HX-Request": "true"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                size = len(response.read())
                status = response.status
            times.append((time.perf_counter() - started) * 1000)
        result[label] = (statistics.median(times), status, size)
    return result


def windowed_only(browser, base, cookie, args):
    print(f"\n| {args.rows:,} loaded (pages of 500), windowed | elements | nodes | JS heap MB | renderer PSS MB | load s (loaded) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, path in (("Jobs rows", "/jobs/"), ("Library tiles", "/library/")):
        on = load_rows(browser, base, cookie, path, args.rows, True, args.budget)
        print(f"| {label} | {on[0]:,} | {on[1]:,} | {on[2]:.1f} | {on[3]:.0f} | {on[4]:.0f} ({on[5]:,}) |", flush=True)
    browser.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", default="bench")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=8764)
    parser.add_argument("--budget", type=int, default=180, help="seconds to load the rows in, per run")
    parser.add_argument("--watch-only", action="store_true", help="only the cost of one /jobs/watch request")
    parser.add_argument("--windowed-only", action="store_true", help="only the loaded rows and tiles, windowed (no LCP, no idle checks)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cookie = session_cookie(args.owner)
    base = f"http://127.0.0.1:{args.port}"
    server = serve(args.port)
    try:
        print("\n| one /jobs/watch of 22 rows | p50 ms | status | bytes |")
        print("| --- | ---: | ---: | ---: |")
        for label, (ms, status, size) in watch_cost(base, cookie, args.owner).items():
            print(f"| {label} | {ms:.1f} | {status} | {size:,} |")
        if args.watch_only:
            return
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
            if args.windowed_only:
                return windowed_only(browser, base, cookie, args)
            print(f"\n| page | LCP first load ms | LCP median of {args.runs} ms |")
            print("| --- | ---: | ---: |")
            for path in ("/jobs/", "/library/"):
                first = lcp(browser, base, cookie, path)
                rest = [lcp(browser, base, cookie, path) for _ in range(args.runs)]
                print(f"| {path} | {first:.0f} | {statistics.median(rest):.0f} |")
            print(f"\n| {args.rows:,} loaded (pages of 500) | windowed: elements | nodes | JS heap MB | renderer PSS MB | load s "
                  f"| not windowed: elements | nodes | JS heap MB | renderer PSS MB | load s (loaded within {args.budget} s) |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for label, path in (("Jobs rows", "/jobs/"), ("Library tiles", "/library/")):
                on = load_rows(browser, base, cookie, path, args.rows, True, args.budget)
                off = load_rows(browser, base, cookie, path, args.rows, False, args.budget)
                print(f"| {label} | {on[0]:,} | {on[1]:,} | {on[2]:.1f} | {on[3]:.0f} | {on[4]:.0f} ({on[5]:,}) "
                      f"| {off[0]:,} | {off[1]:,} | {off[2]:.1f} | {off[3]:.0f} | {off[4]:.0f} ({off[5]:,}) |", flush=True)
            at_work, checks = idle_checks(browser, base, cookie)
            print(f"\nIdle /jobs/?status=running (first page, {at_work} rows at work): {checks} /jobs/watch requests in 10 s.")
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
