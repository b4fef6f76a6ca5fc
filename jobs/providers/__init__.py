"""Generation providers: what turns a source image and a prompt into an image or a video.

    provider = get_provider(step.model_name)        # from the model catalog (jobs/catalog.toml)
    remote = provider.submit(job)                   # a request id to check later, or the files
    remote = provider.check(request)                # queued (position), running (progress), completed
    files = provider.fetch(request)                 # the finished files, downloaded and decoded

jobs/executor.py and jobs/remote.py drive them; jobs/catalog.py prices them.
"""

from .base import (
    ASPECT_RATIOS,
    IMAGES_PER_PROMPT_MAX,
    QUALITIES,
    SEED_MAX,
    VIDEO_RESOLUTIONS,
    GeneratedFile,
    Job,
    OutcomeUnknown,
    Provider,
    ProviderError,
    RateLimited,
    Remote,
    UnknownModel,
    WebhookRefused,
    get_provider,
    synchronous_providers,
)

__all__ = [
    "ASPECT_RATIOS",
    "IMAGES_PER_PROMPT_MAX",
    "QUALITIES",
    "SEED_MAX",
    "VIDEO_RESOLUTIONS",
    "GeneratedFile",
    "Job",
    "OutcomeUnknown",
    "Provider",
    "ProviderError",
    "RateLimited",
    "Remote",
    "UnknownModel",
    "WebhookRefused",
    "get_provider",
    "synchronous_providers",
]
