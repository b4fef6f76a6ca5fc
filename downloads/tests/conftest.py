import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from conftest import make_asset, make_pipeline


def store(asset, data):
    """Put `data` in storage under the asset's original name (make_asset only names it)."""
    default_storage.save(asset.original.name, ContentFile(data))
    asset.bytes = len(data)
    asset.save(update_fields=["bytes"])
    return asset


@pytest.fixture
def stored_pipeline(db):
    """make(user, name, prompts, ...) -> a pipeline whose outputs' files are in storage, with seeds and costs."""

    def make(user, name="Sunset run", outputs=2, prompt="A red fox, at dusk!", model="fal-ai/flux-kontext", data=None):
        pipeline = make_pipeline(user, name=name, outputs=outputs, model=model, prompt=prompt)
        step = pipeline.steps.get()
        step.config = {"model": model, "prompt": prompt, "seed": 42}
        step.cost_actual = "0.0400"
        step.save()
        for n, output in enumerate(pipeline.outputs.select_related("asset").order_by("position")):
            store(output.asset, data or f"file {pipeline.id}-{n}".encode())
        return pipeline

    return make


@pytest.fixture
def stored_asset_named(db):
    def make(user, filename, data=b"library bytes", source="upload"):
        asset = make_asset(user)
        asset.filename, asset.source = filename, source
        asset.save(update_fields=["filename", "source"])
        return store(asset, data)

    return make
