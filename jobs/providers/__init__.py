"""Generation providers: what turns a source image and a prompt into images and videos.

    provider = get_provider(step.model_name)       # from settings.GENERATION_MODELS
    result = provider.generate_images(source_bytes, prompt, step.config, on_progress=beat)
    for file in result.files: ...                  # bytes, mime, extension, width, height, duration
    step.cost_actual = result.cost

estimate_cost() prices a plan before it runs, from the same table.
"""

from .base import (
    ASPECT_RATIOS,
    IMAGES_PER_PROMPT_MAX,
    QUALITIES,
    VIDEO_RESOLUTIONS,
    GeneratedFile,
    Provider,
    ProviderError,
    ProviderResult,
    UnknownModel,
    estimate_cost,
    get_provider,
)

__all__ = [
    "ASPECT_RATIOS",
    "IMAGES_PER_PROMPT_MAX",
    "QUALITIES",
    "VIDEO_RESOLUTIONS",
    "GeneratedFile",
    "Provider",
    "ProviderError",
    "ProviderResult",
    "UnknownModel",
    "estimate_cost",
    "get_provider",
]
