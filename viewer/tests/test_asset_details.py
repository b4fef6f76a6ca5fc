"""GET /assets/<id>/: the viewer's details panel (HX-Request) or the asset's page of its own."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from conftest import make_asset
from jobs.tests.conftest import make_source
from library import parameters
from prompts.models import PROMPT_MAX_CHARS
from viewer.tests.factories import make_output

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def source(owner):
    return make_source(owner)


@pytest.fixture
def output(owner, source):
    return make_output(owner, source)


def test_it_tells_what_made_a_generated_asset(owner_client, output, source):
    response = owner_client.get(f"/assets/{output.asset_id}/?output={output.id}", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the panel only
    assert 'data-testid="viewer-prompt">a red fox<' in html
    assert "Local preview (image)" in html and "local-i2i" in html
    assert 'data-testid="viewer-seed">7<' in html
    assert "$0.037" in html or "$0.038" in html
    assert "Aspect ratio</dt><dd>1:1" in html and "Negative prompt</dt><dd>blurry" in html
    assert "Stage</dt><dd>image · step #1<" in html  # numbered from 1, as on the pipeline's page
    assert f'href="/jobs/{output.pipeline_id}/">Foxes</a>' in html
    assert f'href="/assets/{source.id}/"' in html  # the source, with a link
    assert f'href="/pipelines/new?assets={output.asset_id}"' in html  # use as source
    assert f'href="/pipelines/new?recall={output.id}"' in html  # recall settings
    assert 'data-prompt="a red fox"' in html  # copy prompt
    assert f'hx-post="/assets/{output.asset_id}/favorite?output={output.id}"' in html


def test_it_calls_a_step_that_cost_nothing_free(owner_client, output):
    type(output.step).objects.filter(pk=output.step_id).update(cost_actual=0, cost_estimate=0, cost_reported=0)
    html = owner_client.get(f"/assets/{output.asset_id}/", **HX).content.decode()
    assert 'data-testid="viewer-cost">Free<' in html


def test_it_gives_a_videos_duration_in_seconds(owner_client, output):
    output.step.config = {**output.step.config, "duration": 5}
    output.step.save(update_fields=["config"])
    assert "Duration</dt><dd>5 s<" in owner_client.get(f"/assets/{output.asset_id}/", **HX).content.decode()


def test_it_finds_the_output_of_a_generated_asset_without_being_told(owner_client, output):
    html = owner_client.get(f"/assets/{output.asset_id}/", **HX).content.decode()
    assert f"?recall={output.id}" in html and 'data-testid="viewer-seed">7<' in html


def test_it_shows_an_upload_without_generation_details(owner_client, source):
    html = owner_client.get(f"/assets/{source.id}/", **HX).content.decode()
    assert "viewer-model" not in html and "recall=" not in html
    assert f"?assets={source.id}" in html and "image/png" in html


def test_it_offers_no_use_as_source_for_an_image_whose_processing_failed(owner_client, source):
    type(source).objects.filter(pk=source.pk).update(processing_status="failed")
    html = owner_client.get(f"/assets/{source.id}/", **HX).content.decode()
    assert f"?assets={source.id}" not in html and "image/png" in html


def test_it_shows_the_parameters_written_inside_an_uploaded_file(owner_client, owner, source):
    # A picture made elsewhere (A1111's `parameters` PNG chunk) keeps what made it on view here.
    with default_storage.open(source.original.name, "rb") as f:
        carried = parameters.embed(f.read(), "image/png", "a <b>fox</b>\nNegative prompt: blur\nSteps: 20, Seed: 42, Model: sdxl")
    default_storage.delete(source.original.name)
    default_storage.save(source.original.name, ContentFile(carried))
    html = owner_client.get(f"/assets/{source.id}/", **HX).content.decode()
    embedded = html.split('data-testid="viewer-embedded">', 1)[1].split("</dd>", 1)[0]
    assert "Negative prompt: blur" in embedded and "Seed: 42" in embedded and "Model: sdxl" in embedded
    # Its prompt is the asset's prompt: shown once, and the one "Copy prompt" copies.
    assert 'data-testid="viewer-prompt">a &lt;b&gt;fox&lt;/b&gt;<' in html and "fox" not in embedded and "<b>" not in html
    assert 'data-viewer-action="copy" data-prompt="a &lt;b&gt;fox&lt;/b&gt;"' in html


def test_it_shows_an_uploads_prompt_copied_from_its_file_whole_and_once(owner_client, owner):
    # Processing copied the file's prompt onto the asset for the Library's search, cut to PROMPT_MAX_CHARS:
    # the panel shows and copies the file's whole prompt, escaped, and not again under "In the file".
    whole = "<script>alert(1)</script> a giraffe " + "x" * 3000
    upload = make_source(owner, parameters=f"{whole}\nSteps: 20, Seed: 42")
    type(upload).objects.filter(pk=upload.pk).update(prompt=upload.prompt_in_file())
    assert len(type(upload).objects.get(pk=upload.pk).prompt) == PROMPT_MAX_CHARS

    html = owner_client.get(f"/assets/{upload.id}/", **HX).content.decode()

    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; a giraffe " + "x" * 3000
    assert f'data-testid="viewer-prompt">{escaped}<' in html and f'data-prompt="{escaped}"' in html
    embedded = html.split('data-testid="viewer-embedded">', 1)[1].split("</dd>", 1)[0]
    assert "giraffe" not in embedded and "Seed: 42" in embedded
    assert "<script>alert" not in html


def test_it_offers_to_recall_the_settings_inside_an_upload_reading_its_file_once(owner_client, owner, monkeypatch, django_assert_num_queries):
    carrying, plain = make_source(owner, parameters="a fox\nSteps: 20, Seed: 42"), make_source(owner)
    reads = []
    read = parameters.read
    monkeypatch.setattr(parameters, "read", lambda f: reads.append(f) or read(f))
    with django_assert_num_queries(1):  # the asset: whether it has settings is in its file, not another query
        html = owner_client.get(f"/assets/{carrying.id}/", **HX).content.decode()
    assert f'data-viewer-action="recall" href="/pipelines/new?recall_asset={carrying.id}"' in html
    assert 'data-testid="viewer-embedded">' in html and len(reads) == 1  # the button and the panel's line: one read
    # The page of its own (no JavaScript) has it too; an upload with nothing inside has none.
    assert f"?recall_asset={carrying.id}" in owner_client.get(f"/assets/{carrying.id}/").content.decode()
    assert 'data-viewer-action="recall"' not in owner_client.get(f"/assets/{plain.id}/", **HX).content.decode()


def test_it_is_a_page_of_its_own_without_htmx(owner_client, output):
    response = owner_client.get(f"/assets/{output.asset_id}/?output={output.id}")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert f'<img src="{output.asset.original_url}"' in html
    assert 'data-testid="viewer-prompt"' in html


def test_it_escapes_html_in_prompts(owner_client, owner, source):
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    output = make_output(owner, source, prompt=hostile)
    html = owner_client.get(f"/assets/{output.asset_id}/", **HX).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in html


def test_it_is_a_404_for_someone_elses_asset_or_output(owner_client, owner, other, output):
    theirs = make_output(other, make_source(other))
    assert owner_client.get(f"/assets/{theirs.asset_id}/", **HX).status_code == 404
    assert owner_client.get(f"/assets/{theirs.asset_id}/?output={theirs.id}", **HX).status_code == 404
    # My asset seen through their output: still nothing of theirs.
    assert owner_client.get(f"/assets/{output.asset_id}/?output={theirs.id}", **HX).status_code == 404
    assert owner_client.get("/assets/987654321/", **HX).status_code == 404
    assert owner_client.get("/assets/99999999999999999999/", **HX).status_code == 404  # past a bigint


def test_it_refuses_a_malformed_output_id(owner_client, output):
    for bad in ("abc", "-1", "0", "99999999999999999999", "1e3", "9" * 5000, "²"):
        response = owner_client.get(f"/assets/{output.asset_id}/?output={bad}", **HX)
        assert response.status_code == 400, bad
        assert b"whole number" in response.content


def test_it_says_when_the_source_is_gone(owner_client, owner, output, source):
    owner.assets.filter(pk=source.pk).delete_in_bulk()
    html = owner_client.get(f"/assets/{output.asset_id}/", **HX).content.decode()
    assert f"#{source.id}, no longer in the library" in html


def test_it_requires_login(client, output):
    response = client.get(f"/assets/{output.asset_id}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_answers_in_a_fixed_number_of_queries(owner_client, owner, output, source, django_assert_num_queries):
    # The user comes from the cache with the session (i2v/lib/auth.py), then: the asset, its output with step
    # and pipeline, its source.
    with django_assert_num_queries(3):
        assert owner_client.get(f"/assets/{output.asset_id}/?output={output.id}", **HX).status_code == 200
    with django_assert_num_queries(3):
        assert owner_client.get(f"/assets/{output.asset_id}/", **HX).status_code == 200
    # An upload has no output to look for.
    with django_assert_num_queries(1):
        assert owner_client.get(f"/assets/{source.id}/", **HX).status_code == 200
    orphan = make_asset(owner)  # generated, by no output that is left: looked for, not found
    with django_assert_num_queries(2):
        assert owner_client.get(f"/assets/{orphan.id}/", **HX).status_code == 200
