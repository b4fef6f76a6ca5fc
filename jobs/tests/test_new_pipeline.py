import re
from decimal import Decimal

import pytest

from conftest import make_asset
from jobs.models import Pipeline
from jobs.providers import SEED_MAX
from jobs.tests.conftest import make_source
from jobs.views import RECENT_SOURCES
from i2v.lib.idempotency import form_key


def form_data(assets, **overrides):
    data = {
        "name": "Spring", "tags": "client-x, spring", "sources": [a.pk for a in assets],
        "prompts": "a red fox\na blue owl\n\n", "i2i_enabled": "on", "i2i_model": "local-i2i",
        "images_per_prompt": "2", "aspect_ratio": "1:1", "quality": "draft", "mode": "auto",
        "once": form_key(),  # what the page draws in the form: each send of a new form is its first
    }  # fmt: skip
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_it_shows_the_library_selection_and_recent_images(owner_client, owner, other):
    chosen, recent = make_source(owner), make_source(owner)
    foreign = make_source(other)
    html = owner_client.get(f"/pipelines/new?assets={chosen.pk},{foreign.pk},junk,²,{'9' * 5000},{2**63}").content.decode()
    assert f'name="sources" value="{chosen.pk}" checked' in html
    assert f'name="sources" value="{recent.pk}">' in html
    assert f'name="sources" value="{foreign.pk}"' not in html
    assert "Local preview (image)" in html and "Estimated cost" in html


def test_it_says_how_many_selected_items_it_left_out_as_sources(owner_client, owner):
    image, video = make_source(owner), make_asset(owner, kind="video")
    html = owner_client.get(f"/pipelines/new?assets={image.pk},{video.pk}").content.decode()
    assert f'name="sources" value="{image.pk}" checked' in html and f'name="sources" value="{video.pk}"' not in html
    assert "1 of the items selected is left out: only your images can be sources" in html
    assert 'data-testid="left-out"' not in owner_client.get(f"/pipelines/new?assets={image.pk}").content.decode()


def test_it_counts_items_that_are_no_id_of_the_users_images_as_left_out(owner_client, owner, other):
    image, foreign = make_source(owner), make_source(other)
    html = owner_client.get(f"/pipelines/new?assets={image.pk},abc,{image.pk},{foreign.pk},-1").content.decode()
    assert f'name="sources" value="{image.pk}" checked' in html
    assert "3 of the items selected are left out: only your images can be sources" in html


def test_it_says_how_many_selected_items_were_past_a_pipelines_sources(owner_client, owner, settings):
    settings.PIPELINE_MAX_SOURCES = 2
    first, second, third = (make_source(owner) for _ in range(3))
    html = owner_client.get(f"/pipelines/new?assets={first.pk},{second.pk},{third.pk}").content.decode()
    assert f'value="{first.pk}" checked' in html and f'value="{second.pk}" checked' in html
    assert f'value="{third.pk}" checked' not in html
    assert "Only the first 2 items selected are taken (1 more left out): a pipeline has at most 2 sources." in html
    assert 'data-testid="past-limit"' not in owner_client.get(f"/pipelines/new?assets={first.pk}").content.decode()


def test_it_requires_login(client):
    assert client.get("/pipelines/new").status_code == 302


def test_it_creates_the_pipeline_and_lands_on_the_jobs_page(owner_client, owner, sent, django_capture_on_commit_callbacks):
    source = make_source(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/pipelines/new", form_data([source]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/jobs/"
    p = owner.pipelines.get()
    assert (p.name, p.status, p.planned_steps, p.steps.count()) == ("Spring", "running", 4, 4)
    assert p.config["prompts"] == ["a red fox", "a blue owl"]
    seed = p.config["i2i"].pop("seed")  # drawn for it: test_it_draws_a_seed_for_each_pipeline
    assert p.config["i2i"] == {
        "model": "local-i2i", "negative_prompt": "", "images_per_prompt": 2, "aspect_ratio": "1:1", "quality": "draft"
    }  # fmt: skip
    assert sorted(s.config["seed"] - seed for s in p.steps.all()) == [0, 0, 1, 1]  # each prompt's two outputs
    assert p.config["i2v"] is None
    assert sorted(t.name for t in p.tags.all()) == ["client-x", "spring"]
    assert sent == [("dispatch", None)]


def test_it_draws_a_seed_for_each_pipeline(owner_client, owner):
    """The same request twice makes new pictures the second time, not the ones paid for already."""
    source = make_source(owner)
    for _ in range(2):
        owner_client.post("/pipelines/new", form_data([source], seed=""))
    seeds = {p.config["i2i"]["seed"] for p in owner.pipelines.all()}
    assert len(seeds) == 2 and all(0 <= seed <= SEED_MAX for seed in seeds)
    assert 'name="seed" min="0" max="2147483647" step="1" placeholder="random" value=""' in owner_client.get("/pipelines/new").content.decode()


@pytest.mark.parametrize(
    "seed, expected",
    [("41", [41, 41, 42, 42]), ("0", [0, 0, 1, 1]), (str(SEED_MAX), [0, 0, SEED_MAX, SEED_MAX])],  # past the range, it wraps
)
def test_it_gives_each_output_of_a_prompt_the_seed_given_plus_its_place(owner_client, owner, seed, expected):
    owner_client.post("/pipelines/new", form_data([make_source(owner)], seed=seed, i2v_enabled="on", i2v_model="local-i2v"))
    p = owner.pipelines.get()
    assert p.config["i2i"]["seed"] == p.config["i2v"]["seed"] == int(seed)
    assert sorted(s.config["seed"] for s in p.steps.all()) == expected


def test_it_redirects_without_htmx(owner_client, owner):
    response = owner_client.post("/pipelines/new", form_data([make_source(owner)]))
    assert (response.status_code, response["Location"]) == (302, "/jobs/")


def test_it_names_the_pipeline_after_the_first_prompt_by_default(owner_client, owner):
    owner_client.post("/pipelines/new", form_data([make_source(owner)], name=""))
    assert owner.pipelines.get().name == "a red fox"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"prompts": "\n  \n"}, "prompts", "at least one prompt"),
        ({"sources": []}, "sources", "at least one source"),
        ({"sources": "12x"}, "sources", "whole numbers"),
        ({"sources": "²"}, "sources", "whole numbers"),
        ({"sources": "9" * 5000}, "sources", "Not images in your library: 99999999999999999999."),
        ({"sources": f"{2**64}, 0, -3"}, "sources", "Not images in your library: 18446744073709551616, 0, -3."),
        ({"i2i_model": "no-such-model"}, "i2i_model", "valid choice"),
        ({"i2i_model": "local-i2v"}, "i2i_model", "valid choice"),
        ({"i2i_enabled": None}, "i2i_enabled", "image stage, the video stage"),
        ({"images_per_prompt": "9"}, "images_per_prompt", "less than or equal to 4"),
        ({"tags": "Bad Tag!"}, "tags", "lowercase"),
        ({"tags": "usertest, Spring 2027"}, "tags", "“spring 2027” can&#x27;t be a tag"),
        ({"tags": "ux-test, <i>x</i>, 🔥"}, "tags", "“&lt;i&gt;x&lt;/i&gt;”, “🔥” can&#x27;t be tags: tags use lowercase letters"),
        ({"tags": "ok, " + "x" * 50}, "tags", f"“{'x' * 39}…” can&#x27;t be a tag"),
        ({"i2v_enabled": "on", "i2v_model": "", "duration": "30"}, "duration", "less than or equal to 10"),
        ({"i2v_enabled": "on"}, "i2v_model", "Choose a model"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
        ({"seed": str(SEED_MAX + 1)}, "seed", "less than or equal to 2147483647"),
        ({"seed": "1.5"}, "seed", "Enter a whole number"),
        ({"seed": "<b>7</b>"}, "seed", "Enter a whole number"),
    ],
)
def test_it_shows_errors_next_to_fields(owner_client, owner, overrides, field, message):
    response = owner_client.post("/pipelines/new", form_data([make_source(owner)], **overrides), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert not owner.pipelines.exists()


def test_it_refuses_someone_elses_assets(owner_client, owner, other):
    theirs = make_source(other)
    response = owner_client.post("/pipelines/new", form_data([make_source(owner), theirs]))
    assert response.status_code == 422
    assert f"Not images in your library: {theirs.pk}." in response.content.decode()
    assert not Pipeline.objects.exists()


def test_it_refuses_a_video_as_a_source(owner_client, owner):
    video = make_asset(owner, kind="video")
    response = owner_client.post("/pipelines/new", form_data([video]))
    assert response.status_code == 422 and "Not images in your library" in response.content.decode()


def test_it_refuses_an_image_imported_from_i2v_that_is_not_fetched_yet(owner_client, owner):
    remote = make_source(owner)
    type(remote).objects.filter(pk=remote.pk).update(original="", sha256=None, remote_url="https://cdn.example/a.png", processing_status="remote")
    html = owner_client.get("/pipelines/new").content.decode()
    assert f'name="sources" value="{remote.pk}"' not in html  # not offered among the recent images
    response = owner_client.post("/pipelines/new", form_data([make_source(owner), remote]))
    assert response.status_code == 422
    assert f"Not fetched yet (imported from i2v as URLs): {remote.pk}." in response.content.decode()
    assert not Pipeline.objects.exists()


def test_it_refuses_an_image_whose_processing_failed(owner_client, owner):
    broken = make_source(owner)
    type(broken).objects.filter(pk=broken.pk).update(processing_status="failed", last_error="The file can't be decoded.")
    html = owner_client.get("/pipelines/new").content.decode()
    assert f'name="sources" value="{broken.pk}"' not in html  # not offered among the recent images
    response = owner_client.post("/pipelines/new", form_data([make_source(owner), broken]))
    assert response.status_code == 422
    assert f"Their processing failed, so no model can read them: {broken.pk}." in response.content.decode()
    assert not Pipeline.objects.exists()


def test_it_offers_a_model_whose_provider_has_no_key_disabled_and_refuses_it(owner_client, owner, settings):
    settings.FAL_KEY = ""
    html = owner_client.get("/pipelines/new").content.decode()
    assert '<option value="flux-kontext" disabled>FLUX Kontext pro (set FAL_KEY to use)</option>' in html
    assert '<option value="local-i2i">' in html
    response = owner_client.post("/pipelines/new", form_data([make_source(owner)], i2i_model="flux-kontext"))
    assert response.status_code == 422
    assert "fal.ai is not configured: set the FAL_KEY environment variable" in response.content.decode()
    assert not owner.pipelines.exists()


def test_it_offers_the_comfyui_models_only_once_a_server_is_set(owner_client, owner, settings):
    settings.COMFYUI_URL = ""
    assert '<option value="comfy-wan-2.2" disabled>' in owner_client.get("/pipelines/new").content.decode()
    response = owner_client.post("/pipelines/new", form_data([make_source(owner)], i2i_model="comfy-flux-kontext"))
    assert response.status_code == 422 and "ComfyUI is not configured: set the COMFYUI_URL" in response.content.decode()
    settings.COMFYUI_URL = "http://127.0.0.1:8188"
    assert '<option value="comfy-wan-2.2">' in owner_client.get("/pipelines/new").content.decode()


def test_it_offers_and_plans_the_model_once_its_provider_has_a_key(owner_client, owner, provider_keys):
    assert '<option value="flux-kontext">FLUX Kontext pro</option>' in owner_client.get("/pipelines/new").content.decode()
    owner_client.post("/pipelines/new", form_data([make_source(owner)], i2i_model="flux-kontext"))
    assert owner.pipelines.get().config["i2i"]["model"] == "flux-kontext"


def test_it_refuses_absurd_counts(owner_client, owner, settings):
    settings.PIPELINE_MAX_OUTPUTS = 20
    prompts = "\n".join(f"prompt {i}" for i in range(3))
    sources = [make_source(owner) for _ in range(4)]
    response = owner_client.post("/pipelines/new", form_data(sources, prompts=prompts, images_per_prompt="2"))
    assert response.status_code == 422
    assert "This would make 24 outputs" in response.content.decode()


def test_it_refuses_more_than_500_prompts(owner_client, owner):
    prompts = "\n".join(f"p{i}" for i in range(501))
    html = owner_client.post("/pipelines/new", form_data([make_source(owner)], prompts=prompts)).content.decode()
    # Beside the prompts, and as the reason there is no estimate; not a third time in the prompts' count.
    assert re.findall(r">([^<>]*At most 500 prompts[^<>]*)<", html) == ["At most 500 prompts (got 501).", "No estimate until this is fixed: Prompts: At most 500 prompts (got 501)."]


def test_it_asks_for_confirmation_above_the_threshold(owner_client, owner, settings, provider_keys):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0.10"
    data = form_data([make_source(owner)], i2i_model="flux-kontext")  # 2 prompts x 2 images x $0.04
    response = owner_client.post("/pipelines/new", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="confirm_cost" required' in html and "Confirm $0.16" in html
    assert not owner.pipelines.exists()
    response = owner_client.post("/pipelines/new", {**data, "confirm_cost": "on"}, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/jobs/"
    assert owner.pipelines.get().steps.first().cost_estimate == Decimal("0.04")


def test_it_estimates_the_cost_as_the_form_changes(owner_client, owner):
    data = form_data(
        [make_source(owner), make_source(owner)], i2i_model="flux-kontext",
        i2v_enabled="on", i2v_model="kling-2.1", videos_per_image="2", duration="5",
    )  # fmt: skip
    html = owner_client.post("/pipelines/new/estimate", data, HTTP_HX_REQUEST="true").content.decode()
    # 2 sources x 2 prompts x 2 images at $0.04, then 8 images x 2 videos x 5 s at $0.05.
    assert "$4.32" in html and "24 outputs" in html and "cost nothing" not in html
    free = owner_client.post("/pipelines/new/estimate", form_data([make_source(owner)]), HTTP_HX_REQUEST="true").content.decode()
    assert "$0.00" in free and "The models chosen cost nothing to run." in free


def test_it_estimates_a_half_filled_form(owner_client):
    html = owner_client.post("/pipelines/new/estimate", {"i2i_enabled": "on"}).content.decode()
    assert "$0.00" in html and "0 outputs" in html


def test_it_is_linked_from_the_jobs_page(owner_client):
    assert 'href="/pipelines/new"' in owner_client.get("/jobs/").content.decode()


def test_it_limits_how_fast_one_user_creates_pipelines(owner_client, owner, settings):
    # A day's window: none ends between these requests (a minute's did once, in CI).
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pipelines": "1/86400"}
    data = form_data([make_source(owner)])
    assert owner_client.post("/pipelines/new", data, HTTP_HX_REQUEST="true").status_code == 200
    refused = owner_client.post("/pipelines/new", data, HTTP_HX_REQUEST="true")
    # Under htmx: a toast out of band, and the form stays as it is.
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused["HX-Reswap"] == "none" and 'id="toast"' in refused.content.decode()
    assert "creating pipelines too quickly" in refused.content.decode()
    # Without htmx: a page that says so.
    page = owner_client.post("/pipelines/new", data)
    assert page.status_code == 429 and "<h1>Too many requests</h1>" in page.content.decode()
    assert owner.pipelines.count() == 1
    # Looking at the form is not limited.
    assert owner_client.get("/pipelines/new").status_code == 200


@pytest.mark.parametrize(
    "overrides, why",
    [
        ({"images_per_prompt": "999"}, "Images per prompt: Ensure this value is less than or equal to 4."),
        ({"images_per_prompt": "1.5"}, "Images per prompt: Enter a whole number."),
        ({"i2v_enabled": "on", "i2v_model": "kling-2.1", "duration": "-1"}, "Duration: Ensure this value is greater than or equal to 2."),
        # Past the count's limit nothing is planned: "$0.00 for 0 outputs" read as a free pipeline.
        ({"prompts": "\n".join(f"p{i}" for i in range(501))}, "Prompts: At most 500 prompts (got 501)."),
    ],
)
def test_it_gives_no_estimate_while_a_priced_setting_is_refused(owner_client, owner, overrides, why):
    data = form_data([make_source(owner)], i2i_model="flux-kontext", **overrides)
    html = owner_client.post("/pipelines/new/estimate", data, HTTP_HX_REQUEST="true").content.decode()
    assert f"No estimate until this is fixed: {why}" in html and "Estimated cost" not in html  # not $0.00 or a default's


def test_it_keeps_the_sources_in_place_when_the_form_comes_back_with_an_error(owner_client, owner):
    older = make_source(owner)  # chosen in the Library, older than the recent ones shown
    sources = [make_source(owner) for _ in range(RECENT_SOURCES)]
    tiles = lambda html: re.findall(r'name="sources" value="(\d+)"', html)  # noqa: E731
    before = tiles(owner_client.get("/pipelines/new").content.decode())
    refused = owner_client.post("/pipelines/new", form_data([sources[0], older], prompts=""), HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    after = tiles(refused.content.decode())
    assert after == [str(older.pk), *before]  # the ticked recent one where it was; the older one first
    assert f'name="sources" value="{sources[0].pk}" checked' in refused.content.decode()


def test_it_makes_one_pipeline_from_a_form_sent_twice(owner_client, owner):
    # A double click, a reload of the answer or Back and send again: the same form (its `once` key), one pipeline.
    data = form_data([make_source(owner)])
    first = owner_client.post("/pipelines/new", data, HTTP_HX_REQUEST="true")
    again = owner_client.post("/pipelines/new", data, HTTP_HX_REQUEST="true")
    assert first["HX-Redirect"] == again["HX-Redirect"] == "/jobs/"
    assert owner.pipelines.count() == 1
    assert "already sent: its pipeline is below, not made twice" in owner_client.get("/jobs/").content.decode()
    # A new form (a new key) makes a new pipeline.
    owner_client.post("/pipelines/new", form_data([make_source(owner)]))
    assert owner.pipelines.count() == 2


@pytest.mark.parametrize("once", [None, "", "x", "\x00" * 20, "<script>alert(1)</script>", "k" * 1_000_000])
def test_it_refuses_a_form_without_a_key_of_its_own_keeping_what_was_typed(owner_client, owner, once):
    data = form_data([make_source(owner)], once=once, prompts="a lighthouse in a storm")
    response = owner_client.post("/pipelines/new", data)
    html = response.content.decode()
    assert response.status_code == 422 and "This page is out of date: reload it and try again." in html
    assert "a lighthouse in a storm" in html and re.search(r'name="once" value="[\w-]{16,}"', html)
    assert not owner.pipelines.exists()
