"""The model catalog: one billing function for the estimate and the recorded cost."""

import itertools
from decimal import Decimal

import pytest
from django.conf import settings

from jobs.catalog import CatalogError, bill, effective, load_models
from jobs.models import Pipeline
from jobs.providers import GeneratedFile, Remote
from jobs.providers.base import COMPLETED
from jobs.remote import settings_for
from jobs.tests.conftest import make_source, run_queued

DURATIONS = range(2, 11)  # what the New pipeline form offers
RESOLUTIONS = ("480p", "720p", "1080p")
QUALITIES = ("draft", "standard", "high")


def choices(model):
    spec = settings.GENERATION_MODELS[model]
    if spec["kind"] == "i2i":
        return [{"model": model, "quality": q} for q in QUALITIES]
    return [{"model": model, "duration": d, "resolution": r} for d, r in itertools.product(DURATIONS, RESOLUTIONS)]


def test_it_bills_videos_for_the_clip_length_the_model_makes():
    # Veo 3 makes 8 s clips: a 2 s request is billed (and made) at 8 s, not 2 s.
    assert bill("veo-3", {"duration": 2, "resolution": "720p"}).total == Decimal("3.2000")
    assert effective("veo-3", {"duration": 2})["duration"] == 8
    # Kling makes 5 or 10 s: 6 s rounds up to 10, 12 s down to the longest.
    assert bill("kling-2.1", {"duration": 6}).total == Decimal("0.5000")
    assert bill("kling-2.1", {"duration": 12}).units == Decimal(10)
    # Resolution tiers, and the nearest resolution a model offers.
    assert bill("wan-2.2", {"resolution": "480p"}).total == Decimal("0.2000")
    assert bill("wan-2.2", {"resolution": "1080p"}).detail == "5 s at 720p"
    # Image quality tiers.
    assert bill("gpt-image-1", {"quality": "high"}).total == Decimal("0.1670")
    assert bill("flux-kontext", {}).total == Decimal("0.0400")


@pytest.mark.parametrize("model", sorted(settings.GENERATION_MODELS))
def test_it_records_exactly_what_it_estimates_for_every_model_and_choice(model, owner, monkeypatch):
    """Every model, every duration and resolution (or quality) the form can send: the
    pipeline's estimate equals what its requests are billed when they complete."""
    spec = settings.GENERATION_MODELS[model]
    kind = spec["kind"]
    made = GeneratedFile(b"x", "image/jpeg", "jpg", 8, 8) if kind == "i2i" else GeneratedFile(b"y", "video/mp4", "mp4", 8, 8, 1.0)
    # Each provider is exercised against its fake elsewhere; here every model answers at once,
    # so only the money is looked at.
    monkeypatch.setattr("jobs.executor.get_provider", lambda model_id: _Instant(model_id, made))
    source = make_source(owner)
    for option in choices(model):
        stage = (
            {**option, "images_per_prompt": 1, "aspect_ratio": "auto", "negative_prompt": ""}
            if kind == "i2i"
            else {**option, "videos_per_image": 1, "negative_prompt": ""}
        )
        request = {"name": "x", "sources": [source.pk], "prompts": ["a"], "i2i": stage if kind == "i2i" else None, "i2v": stage if kind == "i2v" else None}
        estimate = Pipeline.estimate(request)
        pipeline = run_queued(Pipeline.objects.create_from_request(owner, request))
        assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
        assert pipeline.total_cost == estimate, option
        [call] = pipeline.requests.all()
        assert call.settings == settings_for(pipeline.steps.get()), "billed from what was sent"


class _Instant:
    """Stands in for a model's provider: answers every submission with a file."""

    name, label, synchronous, resubmit_safe, webhooks, can_lookup, account, limit = "x", "x", True, True, False, False, "", 100

    def __init__(self, model_id, made):
        self.model_id, self.made = model_id, made

    def require_kind(self, kind):
        pass

    def submit(self, job):
        return Remote(COMPLETED, "id", files=[self.made])


def test_it_merges_an_operators_catalog_over_the_default(tmp_path):
    override = tmp_path / "prices.toml"
    override.write_text('[models.flux-kontext.price]\nper_image = "0.05"\n\n[models.my-model]\nlabel = "Mine"\nkind = "i2i"\nprovider = "fal"\nendpoint = "me/it"\nprice.per_image = "0.01"\n')

    models = load_models(settings.BASE_DIR / "jobs" / "catalog.toml", override)

    assert models["flux-kontext"]["price"]["per_image"] == "0.05"
    assert models["flux-kontext"]["endpoint"] == "fal-ai/flux-pro/kontext", "the rest of the entry stays"
    assert models["my-model"]["label"] == "Mine"


@pytest.mark.parametrize(
    "entry, message",
    [
        ('label = "X"\nkind = "i2i"\nprovider = "fal"\nprice.per_image = "cheap"', "is not an amount"),
        ('label = "X"\nkind = "i3d"\nprovider = "fal"', "kind must be"),
        ('label = "X"\nkind = "i2v"\nprovider = "fal"\nprice.per_second = "0.1"', "durations"),
        ('label = "X"\nkind = "i2i"\nprovider = "mystery"\nprice.per_image = "1"', "provider must be"),
    ],
)
def test_it_refuses_a_bad_catalog_loudly(tmp_path, entry, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[models.x]\n{entry}\n")
    with pytest.raises(CatalogError, match=message):
        load_models(settings.BASE_DIR / "jobs" / "catalog.toml", bad)
