"""Creating and running a pipeline in a real browser: the New pipeline page, the
landing on the Jobs page, live progress by polling, and the outputs of a finished run.

The test thread plays the workers: it runs the queued steps and the media
processing jobs their outputs schedule with the real executors, while the page polls.
No message reaches a real broker: step messages are recorded by the `sent` fixture
(jobs/tests/conftest.py) and processing messages land in an in-memory broker.
"""

import re
import time

import pytest
from celery import Celery
from playwright.sync_api import expect

from i2v.celery import app as i2v_app
from jobs.models import Pipeline, Step
from jobs.tasks import run_step
from jobs.tests.conftest import make_source
from media_processing.models import ProcessingJob
from media_processing.renditions import render_image
from media_processing.tasks import run_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPTS = ["a red fox in the snow", "a blue owl at dusk", "a green frog on a leaf"]
STATUS = "[data-part=status]"  # the status cell of a Jobs row (jobs_page.html#row)
WORK_DEADLINE_S = 40


@pytest.fixture
def memory_broker():
    """A Celery app on kombu's in-memory transport, current for the test, so the
    processing messages that generated outputs schedule go nowhere real."""
    app = Celery("i2v-browser-pipelines", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}
    app.set_current()
    try:
        yield app
    finally:
        i2v_app.set_current()


def _library_image(owner):
    """A library image as an upload leaves it: its original in storage, renditions written."""
    asset = make_source(owner)
    asset.save(update_fields=render_image(asset))
    return asset


def _work_once(pipeline_id):
    """One pass of both workers: the next queued step, then every queued processing job.
    True if anything ran."""
    ran = False
    step = Step.objects.filter(pipeline_id=pipeline_id, status=Step.Status.QUEUED).order_by("order", "id").first()
    if step is not None:
        run_step.run(step.pk)
        ran = True
    for job_id in ProcessingJob.objects.filter(status=ProcessingJob.Status.QUEUED).order_by("id").values_list("pk", flat=True):
        run_job.run(job_id)
        ran = True
    return ran


def _all_processed(pipeline_id):
    pipeline = Pipeline.objects.get(pk=pipeline_id)
    if pipeline.status != Pipeline.Status.COMPLETED:
        return False
    outputs = pipeline.outputs.select_related("asset")
    return outputs.count() == 12 and all(o.asset.rendition_300 for o in outputs)


def test_it_creates_a_two_by_three_pipeline_and_watches_it_run_to_completion(owner_page, owner, memory_broker, serial):
    started = time.monotonic()
    with serial:
        first, second = _library_image(owner), _library_image(owner)
    page = owner_page.page

    owner_page.goto(f"/pipelines/new?assets={first.id},{second.id}")
    for asset in (first, second):
        expect(page.locator(f'input[name=sources][value="{asset.id}"]')).to_be_checked()
    page.locator("textarea[name=prompts]").fill("\n".join(PROMPTS))
    expect(page.locator("input[name=i2i_enabled]")).to_be_checked()
    page.locator("select[name=i2i_model]").select_option("local-i2i")
    page.locator("input[name=images_per_prompt]").fill("1")
    page.locator("input[name=i2v_enabled]").check()
    page.locator("select[name=i2v_model]").select_option("local-i2v")
    page.locator("input[name=videos_per_image]").fill("1")
    page.locator("input[name=duration]").fill("2")
    page.get_by_role("spinbutton", name="Seed").fill("2026")
    expect(page.get_by_test_id("estimate")).to_contain_text("$0.00")

    clicked = time.monotonic()
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    with serial:
        pipeline = Pipeline.objects.get(owner=owner)
        queued = list(pipeline.steps.values_list("kind", "status"))
        seeds = {step.config["seed"] for step in pipeline.steps.all()}
    assert queued == [("i2i", "queued")] * 6
    assert seeds == {2026}  # one image per prompt and source: each its first, on the seed typed
    assert (pipeline.planned_steps, sorted(pipeline.config["sources"])) == (12, sorted([first.id, second.id]))
    assert pipeline.config["prompts"] == PROMPTS
    assert (pipeline.config["i2v"]["model"], pipeline.config["i2v"]["duration"]) == ("local-i2v", 2)
    row = page.locator(f"#row-{pipeline.id}")
    status = row.locator(STATUS)
    expect(status).to_contain_text("running")
    expect(status).to_contain_text("0/12 done")
    assert time.monotonic() - clicked < 5  # the request returned at once: nothing ran yet

    seen = {status.inner_text()}
    deadline = time.monotonic() + WORK_DEADLINE_S
    while time.monotonic() < deadline:
        with serial:
            ran = _work_once(pipeline.id)
            done = not ran and _all_processed(pipeline.id)
        if done:
            break
        time.sleep(0.2)
        seen.add(status.inner_text())
    else:
        pytest.fail(f"the pipeline did not finish within {WORK_DEADLINE_S} s")

    expect(status).to_have_text("completed", timeout=6_000)  # by the row's own polling
    with serial:
        pipeline.refresh_from_db()
        steps = list(pipeline.steps.values_list("kind", "status"))
    assert (pipeline.status, pipeline.progress_done, pipeline.planned_steps) == ("completed", 12, 12)
    assert sorted(steps) == [("i2i", "completed")] * 6 + [("i2v", "completed")] * 6
    progress = {text for text in seen if " done" in text}
    assert len(progress) >= 2, seen  # the row's progress text changed while it ran
    assert any("0/12 done" in text for text in seen), seen
    polls = owner_page.count("/jobs/watch")
    assert polls >= 2
    page.wait_for_timeout(2_500)
    assert owner_page.count("/jobs/watch") == polls  # polling stopped

    row.locator("button[aria-expanded]").click()
    detail = page.locator(f"#row-{pipeline.id} + tr.detail")
    expect(detail).to_be_visible()
    expect(detail.locator("table.steps tbody tr")).to_have_count(12)
    images = detail.locator(".grid .tile img")
    videos = detail.locator(".grid .tile video")
    expect(images).to_have_count(6)
    expect(videos).to_have_count(6)
    expect(detail.locator(".grid .tile .pending")).to_have_count(0)
    for i in range(6):
        expect(videos.nth(i)).to_have_attribute("poster", re.compile(r"^/.+\.(jpg|jpeg|webp|png)$"))
    # Thumbnails and posters are real files the browser decodes.
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr.detail .grid .tile img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    posters = detail.locator(".grid .tile video").evaluate_all("els => els.map(e => e.getAttribute('poster'))")
    for url in posters:
        assert page.request.get(owner_page.url(url)).ok, url
    page.screenshot(path="/tmp/pipeline_completed.png", full_page=True)
    owner_page.assert_no_console_errors()
    assert time.monotonic() - started < 60


def test_it_takes_sources_uploaded_on_the_spot(owner_page, owner, memory_broker, serial, tmp_path):
    from PIL import Image

    path = tmp_path / "fresh source.png"
    Image.new("RGB", (320, 240), (200, 80, 40)).save(path)
    page = owner_page.page
    owner_page.goto("/pipelines/new")
    page.locator("[data-source-upload]").set_input_files(str(path))
    expect(page.locator("[data-source-uploads]")).to_contain_text("fresh source.png: added")
    with serial:
        asset = owner.assets.get(filename="fresh source.png")
    expect(page.locator(f'input[name=sources][value="{asset.id}"]')).to_be_checked()

    page.locator("textarea[name=prompts]").fill("a kite over the sea")
    page.locator("select[name=i2i_model]").select_option("local-i2i")
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    with serial:
        assert Pipeline.objects.get(owner=owner).config["sources"] == [asset.id]


def test_it_asks_to_confirm_a_cost_only_while_the_pipeline_costs_that_much(owner_page, owner, settings, serial, provider_keys):
    settings.PIPELINE_CONFIRM_ABOVE_USD = 0.05
    with serial:
        source = _library_image(owner)
    page = owner_page.page
    owner_page.goto(f"/pipelines/new?assets={source.id}")
    page.locator("textarea[name=prompts]").fill("a red fox in the snow\na blue owl at dusk")
    page.locator("select[name=i2i_model]").select_option("flux-kontext")
    expect(page.get_by_test_id("estimate")).to_contain_text("$0.08")

    confirm = page.locator("label.confirm")  # appears with the estimate
    expect(confirm).to_contain_text("Confirm $0.08")
    # Text set without a key pressed (pasted with the mouse, filled in by the browser) is estimated too.
    page.locator("textarea[name=prompts]").fill("a red fox in the snow\na blue owl at dusk\na grey cat")
    expect(page.get_by_test_id("estimate")).to_contain_text("$0.12")
    page.locator("textarea[name=prompts]").fill("a red fox in the snow\na blue owl at dusk")
    expect(confirm).to_contain_text("Confirm $0.08")
    page.get_by_role("button", name="Create and run").click()
    assert confirm.locator("input").evaluate("e => e.matches(':invalid')")  # the browser asks for the tick
    # The box sits right before its words, on the same line.
    gap = confirm.evaluate(
        """l => { const box = l.querySelector('input').getBoundingClientRect();
                  const range = document.createRange(); range.selectNodeContents(l.lastChild);
                  const text = range.getBoundingClientRect();
                  return [text.left - box.right, Math.abs((text.top + text.bottom) / 2 - (box.top + box.bottom) / 2)]; }"""
    )
    assert 0 <= gap[0] < 16 and gap[1] < 8, gap

    # A free model needs no confirmation: the box goes, and the form submits.
    page.locator("select[name=i2i_model]").select_option("local-i2i")
    expect(page.get_by_test_id("estimate")).to_contain_text("$0.00")
    expect(confirm).to_have_count(0)
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    with serial:
        assert Pipeline.objects.get(owner=owner).config["i2i"]["model"] == "local-i2i"

    # Back to a paid model: ticked, it runs.
    owner_page.goto(f"/pipelines/new?assets={source.id}")
    page.locator("textarea[name=prompts]").fill("a green frog on a leaf\na grey cat")
    page.locator("select[name=i2i_model]").select_option("flux-kontext")
    page.locator("label.confirm input").check()
    expect(page.locator("label.confirm input")).to_be_checked()  # the estimate redrawn keeps it ticked
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    with serial:
        assert Pipeline.objects.filter(owner=owner).count() == 2
    owner_page.assert_no_console_errors()


def test_it_asks_before_a_reload_loses_what_was_typed(owner_page, owner, serial):
    with serial:
        source = _library_image(owner)
    page = owner_page.page
    owner_page.goto(f"/pipelines/new?assets={source.id}")
    page.evaluate("location.reload()")  # nothing typed: no question
    page.wait_for_load_state()
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.locator("textarea[name=prompts]").fill("a lighthouse in a storm")
    page.evaluate("location.reload()")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    expect(page.locator("textarea[name=prompts]")).to_have_value("a lighthouse in a storm")  # stayed

    # Sent and refused (a tag with a space), the typing is still unsent: leaving still asks.
    page.locator("input[name=tags]").fill("Bad Tag")
    page.get_by_role("button", name="Create and run").click()
    expect(page.locator("p.error")).to_contain_text("can't be a tag")
    page.evaluate("location.reload()")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload", "beforeunload"]

    # Sent and taken, the page leaves for Jobs without asking.
    page.locator("input[name=tags]").fill("storm")
    page.locator("select[name=i2i_model]").select_option("local-i2i")
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    assert asked == ["beforeunload", "beforeunload"]
    owner_page.assert_no_console_errors()


def test_it_scrolls_to_a_refused_forms_first_error_and_puts_the_cursor_in_its_field(owner_page, owner, serial):
    with serial:
        _library_image(owner), _library_image(owner)
    page = owner_page.page
    page.set_viewport_size({"width": 1280, "height": 700})
    owner_page.goto("/pipelines/new")
    page.locator("textarea[name=prompts]").fill("a lighthouse in a storm")
    page.locator("select[name=i2i_model]").select_option("local-i2i")
    page.get_by_role("button", name="Create and run").click()  # no source ticked: refused, the error far above
    error = page.locator("p.error[data-field=sources]")
    expect(error).to_have_text("Choose at least one source image.")
    expect(error).to_be_in_viewport()
    expect(page.locator("input[name=sources]").first).to_be_focused()

    page.locator("input[name=sources]").first.check()
    page.locator("input[name=tags]").fill("Bad Tag")
    page.get_by_role("button", name="Create and run").click()
    expect(page.locator("p.error[data-field=tags]")).to_be_in_viewport()
    expect(page.locator("input[name=tags]")).to_be_focused()
    owner_page.assert_no_console_errors()
