"""Generated outputs the way the engine records them: a pipeline whose config and
step carry every setting (model, prompt, seed, stage settings), a source image,
a cost, and the output's asset."""

from decimal import Decimal

from conftest import make_asset
from jobs.models import Output, Pipeline, Step

STAGE = {"model": "local-i2i", "negative_prompt": "blurry", "images_per_prompt": 2, "aspect_ratio": "1:1", "quality": "draft"}


def make_output(owner, source, prompt="a red fox", seed=7, position=0, pipeline=None, kind="image"):
    if pipeline is None:
        pipeline = Pipeline.objects.create(
            owner=owner, name="Foxes", model=STAGE["model"], first_prompt=prompt, mode="checkpoint", status="completed",
            config={"sources": [source.id], "prompts": [prompt], "i2i": STAGE, "i2v": None},
        )  # fmt: skip
    step = Step.objects.create(
        owner=owner, pipeline=pipeline, kind="i2i", order=position, status="completed", provider="local",
        config={**STAGE, "prompt": prompt, "seed": seed}, inputs={"asset_id": source.id},
        cost_estimate=Decimal("0.04"), cost_actual=Decimal("0.0375"),
    )  # fmt: skip
    asset = make_asset(owner, kind=kind)
    asset.prompt = prompt
    asset.save(update_fields=["prompt"])
    return Output.objects.create(owner=owner, step=step, pipeline=pipeline, asset=asset, position=position)
