import json

import pytest

from conftest import make_asset
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

from .conftest import queue_job


def post(client, asset_id):
    response = client.post(f"/api/images/{asset_id}/retry-processing")
    return response, json.loads(response.content)


@pytest.fixture
def failed(owner):
    """An asset whose thumbnails failed for good (its original is not in storage)."""
    asset = make_asset(owner, renditions=False)
    job = queue_job(asset, max_attempts=1)
    run_job.run(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    return asset, job


def test_it_queues_failed_work_again_with_fresh_attempts(owner_client, failed, broker, django_capture_on_commit_callbacks):
    asset, job = failed

    with django_capture_on_commit_callbacks(execute=True):
        response, data = post(owner_client, asset.pk)

    assert response.status_code == 202
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error, job.queue) == ("queued", 0, "", "thumbnails")
    assert (data["processing_status"], data["thumbnail_status"], data["last_error"]) == ("pending", "pending", None)
    variants = ProcessingJob.objects.get(asset=asset, kind="variants")
    assert [j["id"] for j in data["jobs"]] == [job.pk, variants.pk], "the missing variants are queued too"
    assert broker.job_ids("thumbnails") == [job.pk] and broker.job_ids("variants") == [variants.pk]


def test_it_queues_missing_work_of_an_asset_that_never_had_a_job(owner_client, owner, django_capture_on_commit_callbacks):
    video = make_asset(owner, kind="video", renditions=False)

    with django_capture_on_commit_callbacks(execute=True):
        response, data = post(owner_client, video.pk)

    assert response.status_code == 202
    assert [(j["kind"], j["status"], j["queue"]) for j in data["jobs"]] == [("poster", "queued", "thumbnails")]


def test_it_answers_409_while_work_is_queued_or_running(owner_client, owner):
    asset = make_asset(owner, renditions=False)
    job = queue_job(asset)

    response, data = post(owner_client, asset.pk)
    assert response.status_code == 409 and data["error"]["code"] == "already_queued"

    ProcessingJob.objects.filter(pk=job.pk).update(status="processing")
    response, data = post(owner_client, asset.pk)
    assert response.status_code == 409 and data["error"]["code"] == "already_queued"
    assert ProcessingJob.objects.filter(asset=asset).count() == 1


def test_it_answers_409_when_nothing_is_missing(owner_client, owner):
    asset = make_asset(owner)
    asset.renditions.update({"1080": asset.renditions["600"], "2160": asset.renditions["600"]})
    asset.save()

    response, data = post(owner_client, asset.pk)

    assert response.status_code == 409 and data["error"]["code"] == "nothing_to_retry"
    assert not ProcessingJob.objects.exists()


def test_it_answers_404_for_someone_elses_asset(client, other, failed):
    asset, job = failed
    client.force_login(other)

    response, _ = post(client, asset.pk)

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.status == "failed"


def test_it_refuses_get(owner_client, failed):
    assert owner_client.get(f"/api/images/{failed[0].pk}/retry-processing").status_code == 405
