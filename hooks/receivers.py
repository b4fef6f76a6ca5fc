"""What the other apps report, turned into webhook events."""

from django.dispatch import receiver

from jobs.events import pipeline_ended
from media_processing.events import asset_processed

from .events import emit


@receiver(pipeline_ended)
def on_pipeline_ended(sender, pipeline, **kwargs):
    event = "pipeline.finished" if pipeline.status == "completed" else "pipeline.failed"
    data = {
        "pipeline_id": pipeline.pk, "name": pipeline.name, "status": pipeline.status, "cost": f"{pipeline.total_cost:.4f}",  # the same digits on every database
        "steps_done": pipeline.progress_done, "steps_planned": pipeline.planned_steps,
    }  # fmt: skip
    emit(pipeline.owner_id, event, data)


@receiver(asset_processed)
def on_asset_processed(sender, asset, **kwargs):
    data = {"asset_id": asset.pk, "kind": asset.kind, "filename": asset.filename, "width": asset.width, "height": asset.height}
    emit(asset.owner_id, "asset.processed", data)
