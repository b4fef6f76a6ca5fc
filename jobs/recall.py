"""Recall settings": the New pipeline form filled in to make an output again.

The viewer links to /pipelines/new?recall=<output id>: the output's own stage is
on, with its model, prompt and settings (as its step recorded them), the other
stage is off, and the source it was made from is ticked if it is still an image
in the library (the form checks that again when it is sent).
"""

from django.core.exceptions import BadRequest
from django.http import Http404

from i2v.lib.ids import id_from_text

from .models import Output, Step

# Step config keys -> New pipeline form fields, per stage.
STAGE_FIELDS = {
    Step.Kind.I2I: {"model": "i2i_model", "negative_prompt": "i2i_negative_prompt", "images_per_prompt": "images_per_prompt",
                    "aspect_ratio": "aspect_ratio", "quality": "quality"},
    Step.Kind.I2V: {"model": "i2v_model", "negative_prompt": "i2v_negative_prompt", "videos_per_image": "videos_per_image",
                    "resolution": "resolution", "duration": "duration"},
}  # fmt: skip


NOT_AN_ID = "The output to recall (?recall=) must be an id: a whole number, such as 61."


def parse_output_id(value):
    """The output id of ?recall=, or None when there is none. Text that is no whole number is a 400 saying so
    (no link of ours makes one: the address was cut or mistyped, and "not found" would hide that); a number
    that is no output of the user's (0, past a bigint, someone else's) is a 404 like an unknown one."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(NOT_AN_ID)  # i2v/lib/errors.py bad_request(): the message on a page, or a toast
    output_id = id_from_text(value)
    if output_id is None:
        raise Http404("No such output.")
    return output_id


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
