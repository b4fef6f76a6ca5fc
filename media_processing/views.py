"""JSON API for background processing: an asset's status and retry, the queue, backfills."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from i2v.lib.broker import producer
from i2v.lib.errors import ApiError, api_view, form_error
from i2v.lib.jsonout import json_response
from library.models import rendition

from . import tasks
from .forms import BackfillForm
from .models import AlreadyQueued, ProcessingJob, assets_to_backfill

# An asset gets a job or two per upload, retry or backfill; the newest few tell its story.
JOBS_SHOWN = 20


@api_view(methods=("GET",))
def processing_status(request, asset_id):
    asset = get_object_or_404(request.user.assets, pk=asset_id)
    return json_response(_status_json(asset))


@api_view(methods=("POST",))
def retry_processing(request, asset_id):
    asset = get_object_or_404(request.user.assets, pk=asset_id)
    try:
        jobs = ProcessingJob.objects.retry(asset)
    except AlreadyQueued:
        raise ApiError(409, "already_queued", "This asset's processing is already queued or running.") from None
    if not jobs:
        raise ApiError(409, "nothing_to_retry", "This asset's processing is complete; there is nothing to retry.")
    asset.refresh_from_db()
    return json_response(_status_json(asset), status=202)


@api_view(methods=("GET",))
def processing_queue(request):
    _require_staff(request)
    return json_response(ProcessingJob.objects.queue_status())


@api_view(methods=("POST",))
def generate_thumbnails(request):
    """Start a backfill in a worker, like `manage.py backfill_renditions`; 202 with how many assets it will visit."""
    _require_staff(request)
    form = BackfillForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    options = {key: form.cleaned_data[key] for key in ("missing", "kind", "batch")}
    count = assets_to_backfill(options["missing"], options["kind"]).count()
    try:
        with producer() as pooled:
            tasks.backfill.apply_async(kwargs=options, producer=pooled, retry=False)
    except Exception:  # noqa: BLE001 - the broker is down: say so instead of pretending
        raise ApiError(503, "broker_unavailable", "The task queue is unavailable; try again later.") from None
    mode = "missing" if options["missing"] else "all"
    return json_response({"count": count, "mode": mode, "kind": options["kind"] or None}, status=202)


def _require_staff(request):
    if not request.user.is_staff:
        raise PermissionDenied


def _status_json(asset):
    jobs = asset.processing_jobs.order_by("-created_at", "-id")[:JOBS_SHOWN]
    sizes = sorted(asset.renditions or {}, key=lambda key: int(key) if key.isdigit() else 0)
    return {
        "id": asset.pk, "kind": asset.kind, "processing_status": asset.processing_status,
        "thumbnail_status": asset.thumbnail_status, "variant_status": asset.variant_status,
        "attempts": asset.attempts, "last_error": asset.last_error or None,
        "width": asset.width, "height": asset.height, "duration": asset.duration,
        "thumbhash": asset.thumbhash or None, "taken_at": asset.taken_at, "exif": asset.exif,
        "renditions": {size: rendition(asset.renditions, size) for size in sizes},
        "jobs": [job.as_json() for job in reversed(jobs)],
    }  # fmt: skip
