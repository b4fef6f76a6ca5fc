"""Recall settings": the New pipeline form filled in to make an output again.

The viewer links to /pipelines/new?recall=<output id>: the output's own stage is
on, with its model, prompt and settings (as its step recorded them), the other
stage is off, and the source it was made from is ticked if it is still an image
in the library (the form checks that again when it is sent).

An image made elsewhere (or downloaded from here and uploaded again) carries its
settings inside its file, as A1111 and ComfyUI write them (library/parameters.py):
/pipelines/new?recall_asset=<asset id> fills in the image stage from those, mapping
only what has a field of the same meaning here, and lists the rest for the page to
say it was not carried over. Its source isn't known (the upload is the result), so
none is ticked.
"""

import math
import re

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404

from i2v.lib.ids import id_from_text, whole_number
from i2v.lib.text import one_line, truncated
from prompts.models import PROMPT_MAX_CHARS

from .forms import NewPipelineForm
from .models import Output, Step
from .providers import ASPECT_RATIOS, QUALITIES, SEED_MAX

# Step config keys -> New pipeline form fields, per stage.
STAGE_FIELDS = {
    Step.Kind.I2I: {"model": "i2i_model", "negative_prompt": "i2i_negative_prompt", "images_per_prompt": "images_per_prompt",
                    "aspect_ratio": "aspect_ratio", "quality": "quality", "seed": "seed"},
    Step.Kind.I2V: {"model": "i2v_model", "negative_prompt": "i2v_negative_prompt", "videos_per_image": "videos_per_image",
                    "resolution": "resolution", "duration": "duration", "seed": "seed"},
}  # fmt: skip


NOT_AN_ID = "The output to recall (?recall=) must be an id: a whole number, such as 61."
NOT_AN_ASSET_ID = "The image to recall (?recall_asset=) must be an id: a whole number, such as 61."
NOT_BOTH = "Recall one thing at a time: ?recall=<output id> or ?recall_asset=<image id>, not both."


def _parse_id(value, not_an_id, not_found):
    """The id in `value`, or None when there is none. Text that is no whole number is a 400 saying so
    (no link of ours makes one: the address was cut or mistyped, and "not found" would hide that); a number
    that is no row of the user's (0, past a bigint, someone else's) is a 404 like an unknown one."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(not_an_id)  # i2v/lib/errors.py bad_request(): the message on a page, or a toast
    found = id_from_text(value)
    if found is None:
        raise Http404(not_found)
    return found


def parse_output_id(value):
    """The output id of ?recall=, or None (_parse_id())."""
    return _parse_id(value, NOT_AN_ID, "No such output.")


def parse_asset_id(value):
    """The asset id of ?recall_asset=, or None (_parse_id())."""
    return _parse_id(value, NOT_AN_ASSET_ID, "No such image.")


def recalled(owner, output_id):
    """(form initial data, source asset ids) that make `owner`'s output `output_id` again.

    One query. Someone else's output, or one that is gone, is a 404.
    """
    output = (
        Output.objects.filter(owner_id=owner.id, pk=output_id)
        .select_related("step", "pipeline")
        .only("id", "step__kind", "step__config", "step__inputs", "pipeline__mode")
        .first()
    )
    if output is None or output.step.kind not in STAGE_FIELDS:
        raise Http404("No such output.")
    step = output.step
    config = step.config if isinstance(step.config, dict) else {}
    stage = "i2i" if step.kind == Step.Kind.I2I else "i2v"
    initial = {
        "prompts": [step.prompt] if step.prompt else [],
        "i2i_enabled": stage == "i2i",
        "i2v_enabled": stage == "i2v",
        "mode": output.pipeline.mode if output.pipeline.mode in ("auto", "checkpoint") else "auto",
        **{field: config[key] for key, field in STAGE_FIELDS[step.kind].items() if config.get(key) not in (None, "")},
    }
    source = step.inputs.get("asset_id") if isinstance(step.inputs, dict) else None
    return initial, [source] if isinstance(source, int) else []


# --- An image's own parameters ------------------------------------------------------------------

# Settings a file may carry that are a stage's field here, besides the prompts.
QUALITY_CHOICES = frozenset(QUALITIES)
RATIO_CHOICES = frozenset(("auto", *ASPECT_RATIOS))
# i2v's own mark in the files it makes (Step.parameters_text()): not a setting, so not reported as one.
NOT_SETTINGS = {"Generator"}
NEGATIVE_MAX = NewPipelineForm.base_fields["i2i_negative_prompt"].max_length
# Words for settings that no model here takes.
NO_SETTING = "isn't a setting of any model here"
SHOWN = 60  # characters of a value the page repeats; a file may hold 32 KB of one
NOTES_MAX = 12  # a file may name hundreds of settings; past these, a count
_SIZE = re.compile(r"([0-9]{1,6})x([0-9]{1,6})")


class NothingToRecall(Exception):
    """The image carries no settings to fill the form with: its message says so."""


def recalled_asset(owner, asset_id):
    """(form initial data, carried, not_carried, asset) that fill New pipeline from the settings inside `owner`'s
    image `asset_id`: `carried` names the fields filled in, `not_carried` says what was left out and why.

    One query, then the file's header (Asset.read_parameters(), bounded there). Someone else's asset, or one
    that is gone, is a 404; a video, a file not fetched yet or one with no parameters is NothingToRecall.
    """
    asset = owner.assets.only("id", "owner_id", "kind", "original", "filename").filter(pk=asset_id).first()
    if asset is None:
        raise Http404("No such image.")
    found = asset.read_parameters()
    if not found:
        name = asset.filename or f"Asset {asset.id}"
        raise NothingToRecall(
            f"{name} carries no generation settings in its file, so there is nothing to recall. "
            "“Use as source” starts a pipeline from the image itself."
        )
    return (*from_parameters(found), asset)


def from_parameters(found):
    """(initial, carried, not_carried) of library/parameters.parse_text()'s answer: the image stage on,
    its fields filled where a setting means the same thing here, and a sentence for each one that doesn't."""
    initial = {"i2i_enabled": True, "i2v_enabled": False, "mode": "auto"}
    carried, not_carried = [], []
    # New pipeline reads a prompt per line: a prompt of several lines is one prompt here.
    prompt = one_line(found["prompt"])
    if prompt:
        initial["prompts"] = [prompt]
        carried.append("prompt")
        if len(prompt) > PROMPT_MAX_CHARS:
            not_carried.append(_too_long("The prompt", prompt, PROMPT_MAX_CHARS))
    negative = one_line(found["negative_prompt"])
    if negative:
        initial["i2i_negative_prompt"] = negative
        carried.append("negative prompt")
        if len(negative) > NEGATIVE_MAX:
            not_carried.append(_too_long("The negative prompt", negative, NEGATIVE_MAX))
    settings_ = dict(found["settings"])

    def carry(key, field, read):
        value = settings_.pop(key, None)
        if value is not None:
            mapped, why = read(value)
            if mapped is not None:
                initial[field] = mapped
                carried.append(f"{key.lower()} {mapped}")
            else:
                not_carried.append(f"{key} {_shown(value)} {why}")

    for key, field, read in (("Model", "i2i_model", _model), ("Aspect ratio", "aspect_ratio", _ratio), ("Quality", "quality", _quality)):
        carry(key, field, read)
    size = settings_.pop("Size", None)
    if size is not None:
        ratio, why = _size_ratio(size)
        if ratio is not None and "aspect_ratio" not in initial:
            initial["aspect_ratio"] = ratio
            carried.append(f"aspect ratio {ratio} (of size {_shown(size)})")
        elif ratio is None:
            not_carried.append(f"Size {_shown(size)} {why}")
    carry("Seed", "seed", _seed)
    for key, value in settings_.items():
        if key not in NOT_SETTINGS:
            not_carried.append(f"{key} {_shown(value)} {NO_SETTING}")
    if len(not_carried) > NOTES_MAX:
        more = len(not_carried) - NOTES_MAX + 1
        not_carried = [*not_carried[: NOTES_MAX - 1], f"and {more} more settings no model here takes"]
    return initial, carried, not_carried


def _too_long(what, text, limit):
    # Carried as it is, for the person to cut where they like; the form refuses it until then.
    return f"{what} is {len(text):,} characters; at most {limit:,} are taken here: shorten it before sending."


def _shown(value):
    return truncated(one_line(str(value)), SHOWN)


def _model(value):
    spec = settings.GENERATION_MODELS.get(value)
    if spec is None or spec.get("kind") != "i2i":
        return None, "isn't one of the image models here"
    return value, ""


def _ratio(value):
    return (value, "") if value in RATIO_CHOICES else (None, "isn't an aspect ratio offered here")


def _quality(value):
    return (value, "") if value in QUALITY_CHOICES else (None, "isn't a quality offered here")


def _seed(value):
    seed = whole_number(str(value).strip())
    if seed is None or seed > SEED_MAX:
        return None, f"isn't a seed taken here (a whole number from 0 to {SEED_MAX:,})"
    return seed, ""


def _size_ratio(value):
    """(aspect ratio, "") of "WxH" when it is exactly one New pipeline offers, else (None, why). The pixels
    themselves are the model's: New pipeline asks for a shape, not a size."""
    match = _SIZE.fullmatch(str(value).strip())
    width, height = (whole_number(match[1]), whole_number(match[2])) if match else (0, 0)
    if not (width and height):
        return None, "isn't a size in pixels"
    common = math.gcd(width, height)
    ratio = f"{width // common}:{height // common}"
    if ratio not in ASPECT_RATIOS:
        return None, f"is {ratio}, not one of the aspect ratios offered here"
    return ratio, ""
