"""GET /api/images/<id>/details: what a viewer shows beside one asset, with the
generation parameters inside its file and, for an output, how it was made."""

import io

from django.db import connection
from PIL import Image, PngImagePlugin

from conftest import make_asset
from jobs.models import Pipeline
from jobs.tests.conftest import make_source, run_queued
from jobs.tests.test_tasks import request
from library.models import Asset
from library.tests.files import post_files, uploaded

A1111 = "masterpiece, a cat in a hat\nNegative prompt: ugly\nSteps: 28, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1234, Size: 64x48, Model: sdxl_base"


def png_with_parameters(text):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def test_it_shows_the_parameters_inside_an_uploaded_png(owner_client, owner, django_assert_num_queries):
    response, body = post_files(owner_client, uploaded("cat.png", png_with_parameters(A1111), "image/png"))
    asset_id = body["items"][0]["id"]
    with django_assert_num_queries(2, connection=connection):  # the asset, its output (none); the user is cached
        response = owner_client.get(f"/api/images/{asset_id}/details")
    assert response.status_code == 200
    details = response.json()
    assert details["id"] == asset_id and details["filename"] == "cat.png" and details["mime"] == "image/png"
    assert details["download_url"] == f"/downloads/assets/{asset_id}"
    assert details["generation"] is None
    params = details["parameters"]
    assert params["prompt"] == "masterpiece, a cat in a hat" and params["negative_prompt"] == "ugly"
    assert params["settings"] == {"Steps": "28", "Sampler": "DPM++ 2M", "CFG scale": "7", "Seed": "1234", "Size": "64x48", "Model": "sdxl_base"}
    assert params["raw"] == A1111


def test_it_shows_how_a_generated_output_was_made(owner_client, owner, django_assert_num_queries):
    pipeline = run_queued(Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=["a red fox"])))
    output = pipeline.outputs.select_related("asset", "step").order_by("position", "id").first()
    with django_assert_num_queries(2, connection=connection):
        details = owner_client.get(f"/api/images/{output.asset_id}/details").json()
    # The local provider makes JPEGs: the parameters went into them as XMP when they were stored.
    assert details["mime"] == "image/jpeg"
    params = details["parameters"]
    assert params["prompt"] == "a red fox"
    assert params["settings"]["Model"] == "local-i2i" and params["settings"]["Seed"] == str(output.step.config["seed"])
    assert params["settings"]["Generator"] == "i2v" and params["settings"]["Size"] == f"{output.asset.width}x{output.asset.height}"
    generation = details["generation"]
    assert generation["pipeline_id"] == pipeline.id and generation["output_id"] == output.id
    assert generation["model"] == "local-i2i" and generation["seed"] == output.step.config["seed"] and generation["cost"] == "0.0000"
    assert generation["download_url"] == f"/downloads/outputs/{output.id}"


def test_it_has_no_parameters_for_a_file_without_any_or_not_here(owner_client, owner):
    plain = make_asset(owner)  # named, never stored
    details = owner_client.get(f"/api/images/{plain.id}/details").json()
    assert details["parameters"] is None
    video = make_asset(owner, kind="video")
    assert owner_client.get(f"/api/images/{video.id}/details").json()["parameters"] is None


def test_it_is_404_for_someone_elses_asset_or_a_bad_id(owner_client, other):
    theirs = make_asset(other)
    for url in (f"/api/images/{theirs.id}/details", "/api/images/99999999/details", "/api/images/99999999999999999999999/details"):
        response = owner_client.get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Asset.objects.filter(pk=theirs.pk).exists()


def test_it_needs_a_login(client, owner):
    response = client.get(f"/api/images/{make_asset(owner).id}/details")
    assert response.status_code == 401
