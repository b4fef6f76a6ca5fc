"""What each kind of ProcessingJob does to its asset.

Every step first looks at what the asset records as done (its renditions) and
skips it, so a job that runs twice (a redelivered message, a worker killed
after saving its work but before marking the job complete) redoes nothing.
Results are saved on the asset in one write per job, renditions merged under
a row lock (models.record_on_asset).
"""

from django.core.files.storage import default_storage
from PIL import Image

from library import remote
from library.models import Asset

from . import thumbhash
from .models import COMPLETE, THUMBNAIL_SIZES, VARIANT_SIZES, ProcessingJob, has_all, record_on_asset
from .renditions import decode_video, render_image, render_original, render_original_variants


def run(job):
    STEPS[job.kind](job)


def thumbnails(job):
    """Renditions 150/300/600, thumbhash, EXIF and size, from one decode of the original; an upload's
    prompt from the parameters in its file's header, so that the Library's search finds it."""
    asset = job.asset
    if has_all(asset, THUMBNAIL_SIZES) and not job.force:
        _finish_thumbnails(asset)
        return
    exif, taken_at = render_original(asset)  # one shrinking decode (libvips)
    prompt = _prompt_in_file(asset)
    job.checkpoint()
    record_on_asset(
        asset, renditions=asset.renditions, width=asset.width, height=asset.height, thumbhash=asset.thumbhash,
        exif=exif, taken_at=taken_at, thumbnail_status=COMPLETE, processing_status=COMPLETE, blank_only=prompt,
    )  # fmt: skip


def poster(job):
    """A video's first frame, upright, as its renditions; its duration and displayed size."""
    asset = job.asset
    if has_all(asset, THUMBNAIL_SIZES) and not job.force:
        _finish_thumbnails(asset)
        return
    image, duration = decode_video(asset.original)
    job.checkpoint()
    render_image(asset, image)
    record_on_asset(
        asset, renditions=asset.renditions, width=asset.width, height=asset.height, thumbhash=asset.thumbhash,
        duration=duration, thumbnail_status=COMPLETE, processing_status=COMPLETE,
    )  # fmt: skip


def variants(job):
    """Display variants that fit 1080p and 4K screens, never upscaled."""
    asset = job.asset
    if asset.kind != Asset.Kind.IMAGE or (has_all(asset, VARIANT_SIZES) and not job.force):
        if asset.variant_status != COMPLETE:
            record_on_asset(asset, variant_status=COMPLETE)
        return
    renditions = render_original_variants(asset)
    job.checkpoint()
    record_on_asset(asset, renditions=renditions, variant_status=COMPLETE)


def _finish_thumbnails(asset):
    """The renditions exist (an earlier run saved them): only fill what is missing."""
    changes, prompt = {}, _prompt_in_file(asset)
    if asset.thumbnail_status != COMPLETE or asset.processing_status != COMPLETE:
        changes.update(thumbnail_status=COMPLETE, processing_status=COMPLETE)
    if not asset.thumbhash:
        # Assets rendered before thumbhashes existed: the 150 px file is enough.
        placeholder = _thumbhash_of_rendition(asset)
        if placeholder:
            changes["thumbhash"] = placeholder
    if changes or prompt:
        record_on_asset(asset, blank_only=prompt, **changes)


def _prompt_in_file(asset):
    """{"prompt": ...} of an upload with no prompt whose file carries one (Asset.prompt_in_file()), to be
    written only if the row's is still blank; {} otherwise. The file's header only: Pillow stops at the
    picture data. Uploads from before this was read get it from `backfill_renditions --prompts`."""
    prompt = asset.prompt_in_file()
    return {"prompt": prompt} if prompt else {}


def _thumbhash_of_rendition(asset):
    try:
        with default_storage.open(asset.renditions["150"]["name"]) as f:
            return thumbhash.encode(Image.open(f))
    except (OSError, KeyError, ValueError):
        return None  # a placeholder is a nicety; the asset is usable without it


STEPS = {
    ProcessingJob.Kind.THUMBNAILS: thumbnails,
    ProcessingJob.Kind.POSTER: poster,
    ProcessingJob.Kind.VARIANTS: variants,
    # An imported remote original: its bytes first, then renditions on the backfill queue.
    ProcessingJob.Kind.FETCH: remote.fetch,
}
