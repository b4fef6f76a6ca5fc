"""The model catalog: what each generation model accepts and what it costs.

jobs/catalog.toml is the table (operators merge their own over it with
GENERATION_CATALOG); settings.GENERATION_MODELS holds it, loaded and checked
once at start-up by load_models(), so a typo in a price stops the process with
a message instead of pricing a pipeline at zero.

`bill(model, settings)` is the one function that turns a request's settings into
billed units and a price. The New pipeline estimate, each step's estimate and
the cost recorded for each request all come from it, with the settings the
provider is actually sent (effective()), so what we estimate is what is billed.
"""

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

KINDS = ("i2i", "i2v")
PROVIDERS = ("local", "fal", "replicate", "openai", "gemini", "comfyui")
QUALITIES = ("draft", "standard", "high")
COST_PLACES = Decimal("0.0001")


class CatalogError(ValueError):
    pass


def load_models(path, override=None):
    """{model id: entry} from the catalog file, with `override`'s entries merged in."""
    models = _read(path)
    if override:
        for model_id, entry in _read(override).items():
            models[model_id] = _merge(models.get(model_id, {}), entry)
    for model_id, entry in models.items():
        _check(model_id, entry)
    return models


def _read(path):
    try:
        return tomllib.loads(Path(path).read_text())["models"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise CatalogError(f"The model catalog {path} can't be read: {exc}") from None


def _merge(base, extra):
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(base.get(key, {}), value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _check(model_id, entry):
    where = f"model {model_id!r} in the catalog"
    if entry.get("kind") not in KINDS:
        raise CatalogError(f"{where}: kind must be one of {', '.join(KINDS)}")
    if entry.get("provider") not in PROVIDERS:
        raise CatalogError(f"{where}: provider must be one of {', '.join(PROVIDERS)}")
    if not entry.get("label"):
        raise CatalogError(f"{where}: it needs a label")
    price = entry.get("price") or {}
    unit = "per_image" if entry["kind"] == "i2i" else "per_second"
    if unit not in price:
        raise CatalogError(f"{where}: it needs price.{unit}")
    prices = price[unit].values() if isinstance(price[unit], dict) else [price[unit]]
    for value in prices:
        try:
            if Decimal(str(value)) < 0:
                raise InvalidOperation
        except InvalidOperation:
            raise CatalogError(f"{where}: price {value!r} is not an amount in USD") from None
    if entry["kind"] == "i2v" and not entry.get("durations"):
        raise CatalogError(f"{where}: a video model lists the clip lengths it bills (durations)")


@dataclass(frozen=True)
class Bill:
    """What one request costs: `units` of `unit` at `unit_price`."""

    units: Decimal
    unit: str  # "image" or "second"
    unit_price: Decimal
    total: Decimal
    detail: str  # "8 s at 720p", "1 image, standard"


def entry(model_id):
    from django.conf import settings

    from .providers.base import UnknownModel

    try:
        return settings.GENERATION_MODELS[model_id]
    except KeyError:
        raise UnknownModel(model_id) from None


def effective(model_id, options):
    """The settings a request for `model_id` really runs with (and is billed for):
    the clip length rounded to one the model makes, a resolution it offers, a quality."""
    spec = entry(model_id)
    if spec["kind"] == "i2i":
        quality = options.get("quality") if options.get("quality") in QUALITIES else "standard"
        return {"quality": quality}
    durations = sorted(spec["durations"])
    requested = _number(options.get("duration"), durations[0])
    duration = next((d for d in durations if d >= requested), durations[-1])
    resolutions = spec.get("resolutions") or []
    resolution = options.get("resolution")
    if resolutions and resolution not in resolutions:
        resolution = _nearest_resolution(resolution, resolutions)
    return {"duration": duration, "resolution": resolution}


def bill(model_id, options):
    """The Bill of one request of `model_id` with `options` (a step's config)."""
    spec = entry(model_id)
    used = effective(model_id, options)
    if spec["kind"] == "i2i":
        price = _tiered(spec["price"]["per_image"], used["quality"])
        detail = "1 image" + (f", {used['quality']}" if isinstance(spec["price"]["per_image"], dict) else "")
        return Bill(Decimal(1), "image", price, price.quantize(COST_PLACES), detail)
    price = _tiered(spec["price"]["per_second"], used["resolution"])
    seconds = Decimal(used["duration"])
    detail = f"{used['duration']} s" + (f" at {used['resolution']}" if used["resolution"] else "")
    return Bill(seconds, "second", price, (price * seconds).quantize(COST_PLACES), detail)


def _tiered(price, tier):
    if isinstance(price, dict):
        price = price.get(tier, next(iter(price.values())))
    return Decimal(str(price))


def _number(value, default):
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _nearest_resolution(requested, offered):
    """The offered resolution closest to the requested one ("720p" from 480p/580p/720p ...)."""
    lines = {r: int(r.rstrip("p")) for r in offered if r.rstrip("p").isdigit()}
    if not lines:
        return offered[0]
    want = int(requested.rstrip("p")) if isinstance(requested, str) and requested.rstrip("p").isdigit() else 720
    return min(lines, key=lambda r: (abs(lines[r] - want), -lines[r]))


def label(model_id):
    from django.conf import settings

    return settings.GENERATION_MODELS.get(model_id, {}).get("label", model_id)


def provider_of(model_id):
    from django.conf import settings

    return settings.GENERATION_MODELS.get(model_id, {}).get("provider", "")


def models_of(kind=None, provider=None):
    from django.conf import settings

    return [
        model_id
        for model_id, spec in settings.GENERATION_MODELS.items()
        if (kind is None or spec["kind"] == kind) and (provider is None or spec["provider"] == provider)
    ]


def needs_confirmation(cost):
    """Whether spending `cost` needs an explicit yes: the one threshold for creating,
    rerunning, retrying and the API (PIPELINE_CONFIRM_ABOVE_USD)."""
    from django.conf import settings

    return Decimal(cost) > Decimal(settings.PIPELINE_CONFIRM_ABOVE_USD)
