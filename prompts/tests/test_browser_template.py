"""A template on New pipeline in Chromium: typing it shows how many prompts it makes
and what they cost (the form's live estimate), a broken one says why at once, and
submitting creates a step per prompt."""

import pytest
from playwright.sync_api import expect

from jobs.models import Pipeline
from jobs.tests.conftest import make_source
from media_processing.renditions import render_image
from prompts.models import PromptList

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_counts_and_prices_a_template_as_it_is_typed_and_makes_that_many_steps(owner_page, owner, serial, provider_keys):
    with serial:
        source = make_source(owner)
        source.save(update_fields=render_image(source))  # its thumbnails exist, as after an upload
        PromptList.objects.create(owner=owner, name="costume", items="pirate\nastronaut")
    page = owner_page.page
    owner_page.goto(f"/pipelines/new?assets={source.id}")
    page.locator("select[name=i2i_model]").select_option("flux-kontext")  # $0.04 an image

    template = page.get_by_test_id("template")
    template.press_sequentially("a {costume} at {dawn|dusk|night")
    expect(page.locator("[data-field=template-live]")).to_contain_text("is never closed")
    template.press_sequentially("}")
    count = page.get_by_test_id("prompt-count")
    expect(count).to_contain_text("6 prompts, 6 from the template, such as")
    expect(count).to_contain_text("a pirate at dawn")
    expect(page.get_by_test_id("estimate")).to_contain_text("$0.24 for 6 outputs")
    expect(page.locator("[data-field=template-live]")).to_have_count(0)

    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(owner_page.url("/jobs/"))
    with serial:
        pipeline = Pipeline.objects.get(owner=owner)
        prompts = sorted(pipeline.steps.values_list("config__prompt", flat=True))
    assert len(prompts) == 6 and pipeline.planned_steps == 6
    assert prompts[:2] == ["a astronaut at dawn", "a astronaut at dusk"]
    owner_page.assert_no_console_errors()
