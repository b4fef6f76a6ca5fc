"""GET /pipelines/new?recall_asset=<image id>: the viewer's "Recall settings" for an image that carries
its settings inside its file (A1111's PNG `parameters` text, library/parameters.py)."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from conftest import make_asset
from jobs.tests.conftest import make_source
from viewer.tests.factories import make_output

pytestmark = pytest.mark.django_db

A1111 = (
    "a red fox in snow, <b>bold</b>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42, Size: 1024x576, Model hash: 31e35c80fc, Model: sd_xl_base_1.0"
)


def _upload(owner, text=None):
    """An uploaded PNG carrying `text` as A1111 writes it (none when None)."""
    asset = make_source(owner, parameters=text)
    asset.filename = "fox.png"
    asset.save(update_fields=["filename"])
    return asset


def _get(client, asset_id, **extra):
    return client.get("/pipelines/new", {"recall_asset": asset_id}, **extra)


def _not_carried(html):
    """The page's list of what was not carried over, its apostrophes as typed (the rest as escaped)."""
    return html.split('data-testid="not-carried">', 1)[1].split("</ul>", 1)[0].replace("&#x27;", "'")


def test_it_fills_in_the_image_stage_from_the_settings_inside_the_file(owner_client, owner):
    upload = _upload(owner, A1111)
    response = _get(owner_client, upload.id)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<textarea name="prompts" rows="5">a red fox in snow, &lt;b&gt;bold&lt;/b&gt;</textarea>' in html
    assert 'name="i2i_negative_prompt" maxlength="1000" value="blurry, lowres"' in html
    assert '<option value="16:9" selected>' in html  # Size 1024x576's shape; the model picks the pixels
    assert '<input type="checkbox" name="i2i_enabled" checked>' in html
    assert '<input type="checkbox" name="i2v_enabled">' in html
    # The upload is what was made, not what it was made from: no source is ticked for it.
    assert f'name="sources" value="{upload.id}" checked' not in html
    said = html.split('data-testid="recalled-from">', 1)[1]
    assert f'href="/assets/{upload.id}/">fox.png</a>: prompt, negative prompt, aspect ratio 16:9 (of size 1024x576), seed 42' in said
    assert 'name="seed" min="0" max="2147483647" step="1" placeholder="random" value="42"' in html
    notes = _not_carried(html)
    assert "<li>Sampler DPM++ 2M isn't a setting of any model here</li>" in notes
    assert "<li>Steps 30 isn't a setting of any model here</li>" in notes
    assert "<li>CFG scale 7 isn't a setting of any model here</li>" in notes
    assert "Seed" not in notes
    assert "<li>Model sd_xl_base_1.0 isn't one of the image models here</li>" in notes
    assert "Size" not in notes and "Negative" not in notes


def test_it_carries_the_model_ratio_and_quality_of_a_file_made_here(owner_client, owner):
    # A picture made by i2v, downloaded and uploaded again (Step.parameters_text()).
    upload = _upload(owner, "a fox\nSeed: 3, Size: 64x48, Model: local-i2i, Aspect ratio: 3:4, Quality: high, Generator: i2v")
    html = _get(owner_client, upload.id).content.decode()
    assert '<option value="local-i2i" selected>' in html
    assert '<option value="3:4" selected>' in html and '<option value="high" selected>' in html
    # Its seed too, so the same model makes the same picture again; Size gives way to the ratio named, and
    # Generator is i2v's mark, not a setting: nothing is left out.
    assert 'placeholder="random" value="3"' in html and 'data-testid="not-carried"' not in html


def test_it_says_why_a_model_of_a_provider_without_its_key_cant_run(owner_client, owner, settings):
    settings.FAL_KEY = ""
    upload = _upload(owner, "a fox\nModel: flux-kontext, Seed: 1")
    html = _get(owner_client, upload.id).content.decode()
    assert '<option value="flux-kontext" selected disabled>' in html
    assert '<p class="error" data-field="i2i_model">fal.ai is not configured' in html


@pytest.mark.parametrize(
    "size, why",
    [
        ("-512x512", "isn't a size in pixels"),
        ("0x512", "isn't a size in pixels"),
        ("1024x", "isn't a size in pixels"),
        ("9" * 40 + "x1", "isn't a size in pixels"),
        ("832x1216", "is 13:19, not one of the aspect ratios offered here"),
    ],
)
def test_it_says_what_a_size_it_cant_use_is(owner_client, owner, size, why):
    upload = _upload(owner, f"a fox\nSeed: 1, Size: {size}")
    html = _get(owner_client, upload.id).content.decode()
    assert f"<li>Size {size[:59]}" in _not_carried(html) and why in _not_carried(html)
    assert "aspect ratio" not in html.split('data-testid="recalled-from">', 1)[1].split("</p>", 1)[0]


@pytest.mark.parametrize("seed", ["-1", "2147483648", "18446744073709551615", "1.5", "<b>7</b>"])
def test_it_says_a_seed_it_cant_take_is_none_taken_here(owner_client, owner, seed):
    """ComfyUI's seeds go up to 2**64; a provider here takes an int32, so such a seed is left out, saying so."""
    upload = _upload(owner, f"a fox\nSeed: {seed}")
    html = _get(owner_client, upload.id).content.decode()
    shown = seed.replace("<", "&lt;").replace(">", "&gt;")
    assert f"<li>Seed {shown} isn't a seed taken here (a whole number from 0 to 2,147,483,647)</li>" in _not_carried(html)
    assert 'placeholder="random" value=""' in html


def test_it_escapes_and_shortens_hostile_values(owner_client, owner):
    seed = "1234567890" * 4  # 40 digits: no model's seed, and shown as text only
    hostile = '</textarea><script>alert(1)</script>'
    # A quoted value is JSON, but "\\ud800" would be a lone surrogate, which no response can encode: kept as written.
    settings_line = f'Seed: {seed}, Sampler: <i>x</i>, Model: <script>, Scheduler: "\\ud800k", Lora: {"y" * 5000}'
    upload = _upload(owner, f'{hostile}\nNegative prompt: "><img src=x onerror=alert(2)>\n{settings_line}')
    response = _get(owner_client, upload.id)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<i>x" not in html and "Model <script>" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in html
    notes = _not_carried(html)
    assert f"<li>Seed {seed} isn" in notes and '<li>Scheduler &quot;\\ud800k&quot; isn' in notes
    assert "<li>Lora " + "y" * 59 + "…" in notes and "y" * 61 not in notes


def test_it_makes_a_prompt_of_several_lines_one_and_says_when_it_is_too_long(owner_client, owner):
    upload = _upload(owner, "a fox,\nin snow,\n\tat dusk\nSteps: 20")
    html = _get(owner_client, upload.id).content.decode()
    assert '<textarea name="prompts" rows="5">a fox, in snow, at dusk</textarea>' in html
    long = _upload(owner, "fox " * 1000 + "\nNegative prompt: " + "n" * 1001 + "\nSteps: 20")
    html = _get(owner_client, long.id).content.decode()
    assert "<li>The prompt is 3,999 characters; at most 2,000 are taken here: shorten it before sending.</li>" in html
    assert "<li>The negative prompt is 1,001 characters; at most 1,000 are taken here" in html


def test_it_reads_a_huge_text_chunk_no_further_than_its_cap(owner_client, owner):
    # 900 KB of `parameters` (Pillow's own cap on a text chunk is 1 MB): parameters.parse_text() keeps 32 KB.
    upload, info, buffer = _upload(owner), PngInfo(), io.BytesIO()
    info.add_text("parameters", "x" * 900_000 + "\nSteps: 1")
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=info)
    default_storage.delete(upload.original.name)
    default_storage.save(upload.original.name, ContentFile(buffer.getvalue()))
    response = _get(owner_client, upload.id)
    assert response.status_code == 200
    assert "<li>The prompt is 32,768 characters; at most 2,000 are taken here" in response.content.decode()


def test_it_counts_settings_past_a_dozen(owner_client, owner):
    upload = _upload(owner, "a fox\nSteps: 1, " + ", ".join(f"Key{n}: {n}" for n in range(40)))
    notes = _not_carried(_get(owner_client, upload.id).content.decode())
    assert notes.count("<li>") == 12 and "<li>and 30 more settings no model here takes</li>" in notes


def test_it_says_when_an_image_carries_no_settings(owner_client, owner):
    plain = _upload(owner)
    response = _get(owner_client, plain.id)
    html = response.content.decode()
    assert response.status_code == 422
    assert "fox.png carries no generation settings in its file, so there is nothing to recall." in html
    assert 'name="prompts"' not in html  # not an empty form
    video = make_asset(owner, kind="video")
    assert "carries no generation settings" in _get(owner_client, video.id).content.decode()


def test_it_says_so_in_the_toast_to_htmx(owner_client, owner):
    response = _get(owner_client, make_source(owner).id, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and response["HX-Reswap"] == "none"
    assert "nothing to recall" in response.content.decode()


def test_it_is_a_404_for_a_number_that_is_no_image_of_the_users(owner_client, other):
    theirs = _upload(other, A1111)
    for value in (theirs.id, "0", "987654321", "99999999999999999999999", "9" * 5000):
        response = _get(owner_client, value)
        assert response.status_code == 404, value
        assert b"a red fox" not in response.content


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", " 1", "²", "٣", "1\x00", "<b>1</b>", "asset:1", "x" * 5000])
def test_it_says_a_recall_asset_that_is_no_number_is_no_id(owner_client, value):
    response = _get(owner_client, value)
    html = response.content.decode()
    assert response.status_code == 400 and "The image to recall (?recall_asset=) must be an id: a whole number, such as 61." in html
    assert "<b>1" not in html


def test_it_recalls_one_thing_at_a_time(owner_client, owner):
    output, upload = make_output(owner, make_source(owner)), _upload(owner, A1111)
    response = owner_client.get(f"/pipelines/new?recall={output.id}&recall_asset={upload.id}")
    assert response.status_code == 400 and "Recall one thing at a time" in response.content.decode()


def test_it_adds_one_query_to_the_page(owner_client, owner, django_assert_num_queries):
    upload = _upload(owner, A1111)
    with django_assert_num_queries(3):  # the recent images, the saved templates, and the image (its file is read once)
        assert _get(owner_client, upload.id).status_code == 200


@pytest.mark.parametrize("htmx", [False, True])
def test_it_keeps_the_notice_when_the_form_is_refused(owner_client, owner, htmx):
    """The form carries the upload it was filled in from: refused (no source chosen), the page still says
    what wasn't carried over, which is what a person has to change by hand."""
    upload = _upload(owner, A1111)
    form = _get(owner_client, upload.id).content.decode()
    assert f'name="recall_asset" value="{upload.id}"' in form
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = owner_client.post("/pipelines/new", {"recall_asset": upload.id, "prompts": "a fox", "i2i_enabled": "on"}, **headers)
    html = response.content.decode()
    assert response.status_code == 422 and "Choose at least one source image." in html
    assert "<li>Sampler DPM++ 2M isn't a setting of any model here</li>" in _not_carried(html)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "<b>1</b>"])
def test_it_leaves_the_notice_out_of_a_refused_form_whose_upload_is_not_the_users(owner_client, owner, other, value):
    theirs = _upload(other, A1111)
    for sent in (value, theirs.id):
        response = owner_client.post("/pipelines/new", {"recall_asset": sent, "prompts": "a fox", "i2i_enabled": "on"})
        assert response.status_code == 422 and 'data-testid="recalled-from"' not in response.content.decode()
