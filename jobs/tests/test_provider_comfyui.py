"""The ComfyUI provider where the shared contract doesn't reach: filling each
shipped workflow for each setting, workflow files that can't work, an operator's
own workflow, our prompt_id and an older ComfyUI that ignores it, errors while
running, and cancelling without stopping anyone else's prompt. Against the fake
in fakes/comfyui.py."""

import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from PIL import Image

from jobs.models import Pipeline
from jobs.providers.base import CANCELLED, NOT_FOUND, QUEUED, RUNNING, Job, ProviderError, get_provider
from jobs.providers.comfyui import PLACEHOLDER, fill, load_workflow, prompt_id_of
from jobs.tests.conftest import make_source

from .contract import drive
from .fakes.comfyui import Harness

PROMPT = 'a fox in "the snow" {{seed}}'


@pytest.fixture
def comfy(settings):
    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 2
    with Harness.started(settings) as harness:
        yield harness


def png(size):
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def job(model="comfy-flux-kontext", size=(3000, 2000), token="tok-1", **options):
    kind = get_provider(model).spec["kind"]
    return Job(model=model, kind=kind, prompt=PROMPT, options=options, source=lambda: png(size), token=token)


def queued_workflow(comfy):
    """The workflow ComfyUI was asked to run last."""
    return comfy.fake.requests[comfy.fake.order[-1]].payload["prompt"]


def inputs(workflow, class_type):
    return [node["inputs"] for node in workflow.values() if node["class_type"] == class_type]


# --- Filling the shipped workflows -------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspect", "quality", "size"),
    [
        ("auto", "standard", (1248, 832)),  # the source's 3:2, about a megapixel
        ("16:9", "standard", (1360, 768)),
        ("1:1", "draft", (768, 768)),
        ("9:16", "high", (960, 1712)),
    ],
)
def test_it_fills_the_flux_kontext_workflow(comfy, aspect, quality, size):
    remote = get_provider("comfy-flux-kontext").submit(job(aspect_ratio=aspect, quality=quality, seed=4242, negative_prompt="blur"))

    workflow = queued_workflow(comfy)
    [load] = inputs(workflow, "LoadImage")
    assert load["image"] in comfy.fake.inputs and load["image"].startswith("i2v/"), "the uploaded source, as LoadImage names it"
    uploaded = Image.open(io.BytesIO(comfy.fake.inputs[load["image"]]))
    assert (uploaded.format, uploaded.size) == ("JPEG", (2048, 1365)), "downscaled before it is uploaded"
    assert inputs(workflow, "CLIPTextEncode") == [{"text": PROMPT, "clip": ["2", 0]}], "the prompt is data: its braces are left alone"
    assert inputs(workflow, "KSampler")[0]["seed"] == 4242
    [latent] = inputs(workflow, "EmptySD3LatentImage")
    assert (latent["width"], latent["height"]) == size
    values = [value for node in workflow.values() for value in node["inputs"].values() if isinstance(value, str)]
    assert not [value for value in values if PLACEHOLDER.fullmatch(value)], "nothing left unfilled"
    assert (remote.state, remote.external_id) == (QUEUED, prompt_id_of("tok-1"))


@pytest.mark.parametrize(
    ("resolution", "source", "size"),
    [
        ("480p", (64, 48), (640, 480)),
        ("720p", (1920, 1080), (1280, 720)),
        ("480p", (1080, 1920), (480, 848)),  # portrait: the short side is the width
        ("1080p", (1920, 1080), (1280, 720)),  # the catalog offers 480p and 720p: the nearest
    ],
)
def test_it_fills_the_wan_workflow(comfy, resolution, source, size):
    get_provider("comfy-wan-2.2").submit(job("comfy-wan-2.2", size=source, resolution=resolution, duration=4, seed=7, negative_prompt="static, blurry"))

    workflow = queued_workflow(comfy)
    [video] = inputs(workflow, "WanImageToVideo")
    assert (video["width"], video["height"], video["length"]) == (*size, 81), "5 s (the clip it makes) at 16 fps, plus one"
    assert inputs(workflow, "CreateVideo")[0]["fps"] == 16
    assert [s["noise_seed"] for s in inputs(workflow, "KSamplerAdvanced")] == [7, 7]
    assert [t["text"] for t in inputs(workflow, "CLIPTextEncode")] == [PROMPT, "static, blurry"]


def test_it_sends_an_empty_negative_prompt_and_seed_0_when_none_is_set(comfy):
    get_provider("comfy-wan-2.2").submit(job("comfy-wan-2.2", resolution="480p"))

    workflow = queued_workflow(comfy)
    assert [t["text"] for t in inputs(workflow, "CLIPTextEncode")] == [PROMPT, ""]
    assert [s["noise_seed"] for s in inputs(workflow, "KSamplerAdvanced")] == [0, 0]


def test_it_replaces_whole_values_only_and_keeps_their_types():
    template = {"1": {"class_type": "X", "inputs": {"seed": "{{seed}}", "text": "{{ prompt }}", "note": "seed={{seed}}", "link": ["2", 0]}}}
    filled = fill(template, {"seed": 42, "prompt": "{{seed}}"})
    assert filled["1"]["inputs"] == {"seed": 42, "text": "{{seed}}", "note": "seed={{seed}}", "link": ["2", 0]}
    assert template["1"]["inputs"]["seed"] == "{{seed}}", "the template is left as it was"


# --- Workflow files that can't work --------------------------------------------------------------


def write(tmp_path, workflow, name="model.json"):
    path = tmp_path / name
    path.write_text(json.dumps(workflow) if not isinstance(workflow, str) else workflow)
    return path


SAVE = {"9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}


@pytest.mark.parametrize(
    ("workflow", "kind", "message"),
    [
        ({"1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}", "text": "{{promt}}"}}}, "i2i",
         "node 1 (LoadImage) asks for {{promt}}; the placeholders are image, prompt, negative_prompt, seed, width, height."),
        ({"1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}", "t": "{{prompt}}", "n": "{{length}}"}}}, "i2i",
         "node 1 (LoadImage) asks for {{length}}"),
        ({"1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}}, **SAVE}, "i2i",
         "has no {{prompt}} placeholder"),
        ({"nodes": [], "links": []}, "i2i", "is in ComfyUI's UI format; export it with Workflow > Export (API) instead."),
        ({"1": {"inputs": {}}}, "i2i", "node 1 has no class_type and inputs."),
        ("{not json", "i2i", "can't be read"),
    ],
)  # fmt: skip
def test_it_refuses_a_workflow_that_cant_work_naming_the_file_and_node(tmp_path, workflow, kind, message):
    with pytest.raises(ProviderError) as refused:
        load_workflow(write(tmp_path, workflow), kind)
    assert message in refused.value.message and refused.value.permanent


def test_it_says_where_a_missing_workflow_belongs(comfy, settings, tmp_path):
    settings.COMFYUI_WORKFLOWS = str(tmp_path)
    with pytest.raises(ProviderError) as refused:
        get_provider("comfy-flux-kontext").submit(job())
    assert f"no ComfyUI workflow flux-kontext.json in {tmp_path} (COMFYUI_WORKFLOWS)" in refused.value.message
    assert comfy.fake.calls == [], "nothing uploaded, nothing queued"


def test_it_runs_an_operators_own_workflow_for_a_model_added_to_the_catalog(comfy, settings, tmp_path, owner):
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}},
        "2": {"class_type": "SDXLRefine", "inputs": {"image": ["1", 0], "text": "{{prompt}}", "seed": "{{seed}}", "steps": 30}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mine/sdxl"}},
    }
    write(tmp_path, workflow, "sdxl-refine.json")
    settings.COMFYUI_WORKFLOWS = str(tmp_path)
    entry = {"label": "SDXL refine (ComfyUI)", "kind": "i2i", "provider": "comfyui", "endpoint": "sdxl-refine", "price": {"per_image": "0"}}
    settings.GENERATION_MODELS = {**settings.GENERATION_MODELS, "comfy-sdxl": entry}
    comfy.succeed(queue=1, progress=(50,))

    pipeline = drive(Pipeline.objects.create_from_request(owner, _request(owner, "comfy-sdxl")))

    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert queued_workflow(comfy)["2"]["inputs"]["steps"] == 30 and pipeline.outputs.count() == 1


def test_it_shows_comfyuis_reasons_for_refusing_a_workflow(comfy, settings, tmp_path):
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "{{image}}"}},
        "2": {"class_type": "KSampler", "inputs": {"image": ["1", 0], "text": "{{prompt}}", "steps": "twenty"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
    }
    write(tmp_path, workflow, "flux-kontext.json")
    settings.COMFYUI_WORKFLOWS = str(tmp_path)
    with pytest.raises(ProviderError) as refused:
        get_provider("comfy-flux-kontext").submit(job())
    assert refused.value.permanent
    assert refused.value.message == (
        "ComfyUI refused the workflow: Prompt outputs failed validation; "
        "KSampler (node 2): Failed to convert an input value to a INT value: steps, twenty"
    )


# --- Our prompt_id, found again; an older ComfyUI -------------------------------------------------


def test_it_finds_a_lost_submission_by_the_prompt_id_it_chose(comfy):
    provider = get_provider("comfy-flux-kontext")
    comfy.succeed(queue=2)
    provider.submit(job(token="lost-one"))
    request = SimpleNamespace(token="lost-one", external_id="")

    found = provider.lookup(request)

    assert (found.state, found.external_id, found.queue_position) == (QUEUED, prompt_id_of("lost-one"), 1)
    assert provider.lookup(SimpleNamespace(token="never-sent", external_id="")) is None


def test_it_follows_the_id_an_older_comfyui_chose_but_cant_look_up_a_lost_one(settings):
    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 2
    with Harness.started(settings, takes_prompt_id=False) as comfy:
        provider = get_provider("comfy-flux-kontext")
        remote = provider.submit(job(token="old"))
        assert remote.external_id != prompt_id_of("old") and remote.external_id in comfy.fake.requests
        assert provider.check(SimpleNamespace(token="old", external_id=remote.external_id)).state == QUEUED
        assert provider.lookup(SimpleNamespace(token="old", external_id="")) is None


def test_it_says_not_found_for_a_prompt_comfyui_forgot(comfy):
    # A restart empties ComfyUI's queue and history: the lifecycle asks again, then its owner.
    remote = get_provider("comfy-flux-kontext").check(SimpleNamespace(token="t", external_id="gone"))
    assert (remote.state, remote.external_id) == (NOT_FOUND, "gone")


# --- Running ------------------------------------------------------------------------------------


def test_it_fails_the_step_with_the_node_that_failed(comfy, owner):
    comfy.fail("CUDA out of memory. Tried to allocate 2.00 GiB")
    pipeline = drive(Pipeline.objects.create_from_request(owner, _request(owner, "comfy-flux-kontext")))

    step = pipeline.steps.get()
    assert (pipeline.status, step.status) == ("failed", "failed")
    assert step.error == "ComfyUI: KSampler (node 12) failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert comfy.submissions == 1, "never sent again by itself: it burns GPU time"


def test_it_reads_a_prompt_interrupted_in_comfyui_as_cancelled(comfy):
    provider = get_provider("comfy-flux-kontext")
    comfy.succeed(queue=0, progress=(10, 20, 30))
    remote = provider.submit(job())
    request = SimpleNamespace(token="tok-1", external_id=remote.external_id)
    assert provider.check(request).state == RUNNING

    comfy.fake.interrupt(None, "", b"", {})  # someone presses Cancel in ComfyUI's own page

    assert (provider.check(request).state, provider.check(request).error) == (CANCELLED, "Interrupted in ComfyUI.")


def test_it_interrupts_only_its_own_running_prompt(comfy):
    provider = get_provider("comfy-flux-kontext")
    comfy.succeed(queue=0, progress=(10, 20, 30))
    remote = provider.submit(job())
    request = SimpleNamespace(token="tok-1", external_id=remote.external_id)
    provider.check(request)  # now running

    provider.cancel(request)

    assert comfy.fake.interrupts == [{"prompt_id": remote.external_id}], "never a bare /interrupt, which stops whatever runs"
    assert comfy.cancelled == [remote.external_id]


def test_it_takes_a_waiting_prompt_out_of_the_queue_without_interrupting(comfy):
    provider = get_provider("comfy-flux-kontext")
    comfy.succeed(queue=3)
    remote = provider.submit(job())

    provider.cancel(SimpleNamespace(token="tok-1", external_id=remote.external_id))

    assert comfy.fake.interrupts == [] and comfy.cancelled == [remote.external_id]
    assert json.loads(comfy.fake.calls_to("POST", "^/queue$")[0].body) == {"delete": [remote.external_id]}


@pytest.mark.parametrize(
    ("url", "account"),
    [
        ("http://127.0.0.1:8188", "127.0.0.1:8188"),
        ("https://gpu.lan", "gpu.lan"),
        # Too long for the field: a fingerprint of host and port (never the credentials).
        ("http://user:secret@my-big-gpu-box.example.com:8188", hashlib.sha256(b"my-big-gpu-box.example.com:8188").hexdigest()[:12]),
    ],
)
def test_it_counts_requests_against_the_comfyui_server_they_go_to(settings, url, account):
    settings.COMFYUI_URL = url
    assert get_provider("comfy-flux-kontext").account == account


def test_it_runs_a_pipeline_on_both_shipped_workflows(comfy, owner):
    comfy.succeed(queue=1, progress=(50,))
    pipeline = Pipeline.objects.create_from_request(owner, _request(owner, "comfy-flux-kontext", i2v="comfy-wan-2.2"))
    comfy.succeed(queue=1, progress=(50,), video=True)

    pipeline = drive(pipeline)

    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    assert sorted(pipeline.outputs.values_list("asset__kind", flat=True)) == ["image", "video"]
    assert comfy.submissions == 2


def _request(owner, model, i2v=None):
    stage = {"model": model, "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard", "negative_prompt": ""}
    video = {"model": i2v, "videos_per_image": 1, "resolution": "480p", "duration": 5, "negative_prompt": ""} if i2v else None
    return {"name": "Comfy", "sources": [make_source(owner).pk], "prompts": ["a fox"], "i2i": stage, "i2v": video}
