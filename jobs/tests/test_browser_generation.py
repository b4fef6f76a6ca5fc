"""A hosted provider, watched in a real browser: a slow fake fal shows the row
its queue position, then its progress, then the finished result; a pipeline
cancelled from its row menu is cancelled at the provider too.

The test thread plays the workers and the poller (run_step, check_due) against
a fake fal on loopback (jobs/tests/fakes/fal.py), while the page polls its rows.
"""

import pytest
from playwright.sync_api import expect

from jobs.models import Pipeline
from jobs.remote import check_due
from jobs.tasks import run_step
from jobs.tests.conftest import make_source
from jobs.tests.fakes.fal import FakeFal
from jobs.tests.test_browser_pipelines import memory_broker  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STATUS = "[data-part=status]"  # the status cell of a Jobs row (jobs_page.html#row)


def fal_pipeline(owner, name):
    stage = {"model": "flux-kontext", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard", "negative_prompt": ""}
    request = {"name": name, "sources": [make_source(owner).pk], "prompts": ["a red fox in the snow"], "i2i": stage, "i2v": None}
    return Pipeline.objects.create_from_request(owner, request)


def tick(pipeline):
    """One poll of the provider, as the control worker's next tick would do."""
    from django.utils import timezone

    pipeline.requests.update(next_check_at=timezone.now())
    check_due()


@pytest.fixture
def fal(settings):
    from jobs.providers import fal as provider

    with FakeFal() as fake:
        fake.configure(settings)
        provider.forget_keys()
        yield fake


def test_it_shows_the_queue_position_then_the_progress_then_the_result(owner_page, owner, fal, memory_broker, serial):  # noqa: F811
    fal.plan(queue=3, progress=(30, 70))
    with serial:
        pipeline = fal_pipeline(owner, "Fox at fal")
        step = pipeline.steps.get()
    page = owner_page.page
    owner_page.goto("/jobs/")
    status = page.locator(f"#row-{pipeline.id} {STATUS}")
    expect(status).to_contain_text("0/1 done")

    with serial:
        assert run_step.run(step.pk) == "submitted"
        tick(pipeline)  # fal: 2 ahead in its queue
    expect(status).to_contain_text("next in its queue at #3", timeout=6_000)
    with serial:
        tick(pipeline)
    expect(status).to_contain_text("next in its queue at #2", timeout=6_000)
    with serial:
        tick(pipeline)  # the last queue check
        tick(pipeline)  # running, 30 %
    expect(status).to_contain_text("30% done", timeout=6_000)
    with serial:
        tick(pipeline)
    expect(status).to_contain_text("70% done", timeout=6_000)
    with serial:
        tick(pipeline)  # completed at fal: the file is fetched
        assert run_step.run(step.pk) == "completed"
    expect(status).to_have_text("completed", timeout=6_000)

    page.locator(f"#row-{pipeline.id} button[aria-expanded]").click()
    detail = page.locator(f"#row-{pipeline.id} + tr.detail")
    expect(detail.locator("table.steps tbody tr")).to_have_count(1)
    expect(detail.locator(".grid .tile")).to_have_count(1)
    expect(detail.locator("td.cost")).to_have_text("$0.04")  # to the cent, as the row (i2v/lib/money.py)
    with serial:
        assert fal.submissions == 1
    owner_page.assert_no_console_errors()


def test_it_cancels_at_the_provider_from_the_row_menu(owner_page, owner, fal, memory_broker, serial):  # noqa: F811
    fal.plan(queue=20)
    with serial:
        pipeline = fal_pipeline(owner, "Owl at fal")
        step = pipeline.steps.get()
        run_step.run(step.pk)
        tick(pipeline)
        [request_id] = fal.order
    page = owner_page.page
    owner_page.goto("/jobs/")
    status = page.locator(f"#row-{pipeline.id} {STATUS}")
    expect(status).to_contain_text("in its queue")
    page.on("dialog", lambda dialog: dialog.accept())

    page.locator(f"#row-{pipeline.id} button[aria-label=Actions]").click()
    page.locator("#row-menu").get_by_role("button", name="Cancel").click()

    expect(status).to_contain_text("cancelled")
    with serial:
        check_due()  # the poller's next tick cancels it at fal
        assert fal.cancelled == [request_id]
        call = pipeline.requests.get()
        assert (call.state, call.cost) == ("cancelled", 0)
    owner_page.assert_no_console_errors()
