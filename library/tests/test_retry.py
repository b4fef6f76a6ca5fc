"""/library/<id>/retry: a failed tile's Retry button queues the work again and redraws the tile, polling."""

from conftest import make_asset
from library.models import Asset
from media_processing.models import ProcessingJob


def failed_asset(owner):
    """An asset whose thumbnails failed for good, as the worker leaves it."""
    asset = make_asset(owner, renditions=False)
    Asset.objects.filter(pk=asset.pk).update(processing_status="failed", thumbnail_status="failed", last_error="decoder said no")
    ProcessingJob.objects.create(asset=asset, kind="thumbnails", queue="thumbnails", status="failed", attempts=3, error="decoder said no")
    return asset


def test_it_queues_the_failed_work_again_and_redraws_the_tile_polling(owner_client, owner):
    asset = failed_asset(owner)
    response = owner_client.post(f"/library/{asset.id}/retry", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<li class="asset tile s-pending" id="asset-{asset.id}"')
    assert 'data-watch=' in html and "Processing failed" not in html
    job = ProcessingJob.objects.get(asset=asset, kind="thumbnails")
    assert (job.status, job.attempts) == ("queued", 0)
    asset.refresh_from_db()
    assert (asset.processing_status, asset.last_error) == ("pending", "")


def test_it_just_redraws_the_tile_when_the_work_is_already_queued(owner_client, owner):
    asset = failed_asset(owner)
    owner_client.post(f"/library/{asset.id}/retry")
    response = owner_client.post(f"/library/{asset.id}/retry")  # a double click
    assert response.status_code == 200 and 'data-watch=' in response.content.decode()
    assert ProcessingJob.objects.filter(asset=asset, status="queued").count() == 2  # thumbnails and variants, once


def test_it_is_a_404_for_someone_elses_asset(client, owner, other):
    asset = failed_asset(owner)
    client.force_login(other)
    assert client.post(f"/library/{asset.id}/retry").status_code == 404
    assert ProcessingJob.objects.get(asset=asset).status == "failed"


def test_it_only_takes_post(owner_client, owner):
    asset = failed_asset(owner)
    assert owner_client.get(f"/library/{asset.id}/retry").status_code == 405
