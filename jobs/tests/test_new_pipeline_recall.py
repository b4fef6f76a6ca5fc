"""GET /pipelines/new?recall=<output id>: the viewer's "Recall settings"."""

import pytest

from jobs.tests.conftest import make_source
from viewer.tests.factories import make_output

pytestmark = pytest.mark.django_db


def test_it_fills_in_the_prompt_model_settings_and_source_of_the_output(owner_client, owner):
    source = make_source(owner)
    output = make_output(owner, source, prompt="a red fox in snow", seed=90125)
    html = owner_client.get(f"/pipelines/new?recall={output.id}").content.decode()
    assert '<textarea name="prompts" rows="5">a red fox in snow</textarea>' in html
    assert '<option value="local-i2i" selected>' in html
    assert '<option value="1:1" selected>' in html and '<option value="draft" selected>' in html
    assert 'name="images_per_prompt" min="1" max="4" value="2"' in html
    assert 'name="i2i_negative_prompt" maxlength="1000" value="blurry"' in html
    assert '<input type="checkbox" name="i2i_enabled" checked>' in html
    assert '<input type="checkbox" name="i2v_enabled">' in html
    assert 'value="checkpoint" checked' in html
    assert f'name="sources" value="{source.id}" checked' in html
    assert 'placeholder="random" value="90125"' in html  # its own seed: its first output is the same picture again


def test_it_says_why_a_recalled_model_cant_run_here(owner_client, owner, settings):
    settings.FAL_KEY = ""
    output = make_output(owner, make_source(owner))
    output.step.config = {**output.step.config, "model": "flux-kontext"}  # made while fal had a key
    output.step.save(update_fields=["config"])
    html = owner_client.get(f"/pipelines/new?recall={output.id}").content.decode()
    assert '<option value="flux-kontext" selected disabled>FLUX Kontext pro (set FAL_KEY to use)</option>' in html
    assert '<p class="error" data-field="i2i_model">fal.ai is not configured: set the FAL_KEY environment variable' in html
    settings.FAL_KEY = "a-key"
    html = owner_client.get(f"/pipelines/new?recall={output.id}").content.decode()
    assert '<option value="flux-kontext" selected>' in html and "is not configured" not in html


def test_it_also_ticks_the_assets_asked_for(owner_client, owner):
    output, extra = make_output(owner, make_source(owner)), make_source(owner)
    html = owner_client.get(f"/pipelines/new?recall={output.id}&assets={extra.id}").content.decode()
    assert f'name="sources" value="{extra.id}" checked' in html


def test_it_escapes_the_recalled_prompt(owner_client, owner):
    output = make_output(owner, make_source(owner), prompt="</textarea><script>alert(1)</script>")
    html = owner_client.get(f"/pipelines/new?recall={output.id}").content.decode()
    assert "<script>alert(1)" not in html and "&lt;/textarea&gt;&lt;script&gt;" in html


def test_it_is_a_404_for_a_number_that_is_no_output_of_the_users(owner_client, other):
    theirs = make_output(other, make_source(other))
    for value in (theirs.id, "0", "99999999999999999999999", "9" * 5000):
        assert owner_client.get(f"/pipelines/new?recall={value}").status_code == 404, value


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "1.0", " 1", "²", "٣", "1\x00", "<b>1</b>", "x" * 5000])
def test_it_says_a_recall_that_is_no_number_is_no_id(owner_client, value):
    response = owner_client.get("/pipelines/new", {"recall": value})
    html = response.content.decode()
    assert response.status_code == 400 and "The output to recall (?recall=) must be an id: a whole number, such as 61." in html
    assert "<b>1" not in html


def test_it_says_so_in_the_toast_to_htmx(owner_client):
    response = owner_client.get("/pipelines/new?recall=abc", HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and response["HX-Reswap"] == "none"
    assert "must be an id: a whole number" in response.content.decode()


def test_it_adds_two_queries_to_the_page(owner_client, owner, django_assert_num_queries):
    output = make_output(owner, make_source(owner))
    with django_assert_num_queries(2):  # the recent images, the saved templates (the user is cached)
        owner_client.get("/pipelines/new")
    with django_assert_num_queries(4):  # and the output with its step and pipeline, and the chosen source
        owner_client.get(f"/pipelines/new?recall={output.id}")
