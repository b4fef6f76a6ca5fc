"""Benchmark of prompt templates and outgoing webhooks (not a test): prints a Markdown table.

In one process, on a throw-away test database made from DATABASE_URL (test_<name>,
dropped at the end):

  (a) expanding a template of 500 prompts (2 named lists of 10 x 5 alternatives x 5),
      and refusing one of 3^30 prompts (counted, never made);
  (b) the New pipeline live estimate (POST /pipelines/new/estimate, the form's own)
      with 500 typed prompts against the same 500 made by that template, side by side;
  (c) webhook deliveries through the work-queue task body (claim, sign, POST to a
      receiver on loopback, complete): deliveries per second, one after another.

Usage: DATABASE_URL=postgres://.../i2v_prompts REDIS_URL=redis://127.0.0.1:6379/10 \
       python bench/prompts.py [--runs 30] [--deliveries 200]
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

TEMPLATE = "a {colour} {animal} {in|at|by|near|under} the {castle|forest|sea|city|desert}"


def _median_ms(fn, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.RATE_LIMITS = False
    settings.WORK_LEASE_KEEPER = False
    settings.WEBHOOK_ALLOW_PRIVATE = True
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rows = run(args, Client)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"\n{connection.vendor}, {args.runs} runs each, medians\n")
    print("| measure | median |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


def run(args, Client):
    from django.contrib.auth import get_user_model

    from hooks.events import emit
    from hooks.models import Delivery, DeliveryQuerySet, Endpoint
    from hooks.tasks import deliver
    from hooks.tests.receiver import Receiver
    from jobs.tests.conftest import make_source
    from prompts.expand import TemplateError, expand, parse
    from prompts.models import PromptList, expand_for

    user = get_user_model().objects.create_user("bench-prompts", password="x")
    PromptList.objects.create(owner=user, name="colour", items="\n".join(f"colour{i}" for i in range(4)))
    PromptList.objects.create(owner=user, name="animal", items="\n".join(f"animal{i}" for i in range(5)))
    assert len(expand_for(user, TEMPLATE)) == 500
    rows = []
    lists = {"colour": [f"c{i}" for i in range(4)], "animal": [f"a{i}" for i in range(5)]}
    rows.append(("expand a 500-prompt template (in memory)", f"{_median_ms(lambda: expand(TEMPLATE, lists, 500), args.runs):.2f} ms"))
    rows.append(("expand_for: the same, with its 2 lists loaded", f"{_median_ms(lambda: expand_for(user, TEMPLATE), args.runs):.2f} ms"))

    def refuse():
        try:
            expand("{a|b|c}" * 30, {}, 500)
        except TemplateError:
            return
        raise AssertionError("not refused")

    rows.append(("refuse a 3^30-prompt template (counted, not made)", f"{_median_ms(refuse, args.runs):.3f} ms"))
    assert parse(TEMPLATE)

    from media_processing.tests.conftest import tiny_mp4  # noqa: F401  (imports the test helpers' settings once)

    source = make_source(user)
    client = Client()
    client.force_login(user)
    base = {"sources": [source.pk], "i2i_enabled": "on", "i2i_model": "flux-kontext", "images_per_prompt": "1"}
    typed = {**base, "prompts": "\n".join(expand_for(user, TEMPLATE))}
    templated = {**base, "template": TEMPLATE}
    for data in (typed, templated):
        assert b"500 outputs" in client.post("/pipelines/new/estimate", data).content
    typed_ms = _median_ms(lambda: client.post("/pipelines/new/estimate", typed), args.runs)
    template_ms = _median_ms(lambda: client.post("/pipelines/new/estimate", templated), args.runs)
    rows.append(("live estimate, 500 typed prompts", f"{typed_ms:.1f} ms"))
    rows.append(("live estimate, the same 500 from the template", f"{template_ms:.1f} ms ({template_ms / typed_ms:.2f}x)"))

    DeliveryQuerySet.send_many = lambda queryset, items, countdown=None: len(items)  # no broker: the bench runs the task body
    with Receiver() as receiver:
        Endpoint.objects.create(owner=user, url=receiver.hook_url, events=["pipeline.finished"])
        ids = [emit(user.pk, "pipeline.finished", {"n": n})[0].pk for n in range(args.deliveries)]
        from jobs.providers.http import client

        bare_ms = _median_ms(lambda: client().post(receiver.hook_url, content=b"{}"), args.runs)
        receiver.calls.clear()
        started = time.perf_counter()
        for pk in ids:
            deliver.run(pk)
        elapsed = time.perf_counter() - started
        assert Delivery.objects.filter(status="delivered").count() == args.deliveries == len(receiver.calls)
    rows.append(("a bare POST to the same receiver (the floor)", f"{bare_ms:.1f} ms"))
    rows.append((f"{args.deliveries} webhook deliveries, one worker, loopback receiver", f"{args.deliveries / elapsed:.0f} /s ({elapsed * 1000 / args.deliveries:.1f} ms each)"))
    return rows


if __name__ == "__main__":
    main()
