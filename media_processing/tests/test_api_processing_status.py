import json

from django.core.files.storage import default_storage

from conftest import make_asset
from media_processing.tasks import run_job

from .conftest import encoded, picture, queue_job, stored_asset


def get(client, asset_id):
    response = client.get(f"/api/images/{asset_id}/processing-status")
    return response, json.loads(response.content)


def test_it_shows_statuses_jobs_and_rendition_urls(owner_client, owner):
    asset = stored_asset(owner, encoded(picture()))
    done = queue_job(asset)
    run_job.run(done.pk)
    waiting = queue_job(asset, kind="variants", queue="variants")

    response, data = get(owner_client, asset.pk)

    assert response.status_code == 200
    assert data["id"] == asset.pk and data["kind"] == "image"
    assert (data["processing_status"], data["thumbnail_status"], data["variant_status"]) == ("complete", "complete", "pending")
    assert (data["width"], data["height"]) == (800, 600) and data["thumbhash"]
    assert list(data["renditions"]) == ["150", "300", "600"]
    url = data["renditions"]["300"]["url"]
    assert url == default_storage.url(asset.__class__.objects.get(pk=asset.pk).renditions["300"]["name"])
    assert (data["renditions"]["300"]["w"], data["renditions"]["300"]["h"]) == (300, 225)
    assert [(j["id"], j["kind"], j["status"], j["attempts"]) for j in data["jobs"]] == [
        (done.pk, "thumbnails", "completed", 1),
        (waiting.pk, "variants", "queued", 0),
    ]
    assert data["jobs"][0]["error"] is None and data["last_error"] is None


def test_it_shows_a_failure_a_person_can_read(owner_client, owner):
    asset = stored_asset(owner, b"definitely not a picture")
    job = queue_job(asset, max_attempts=1)
    run_job.run(job.pk)

    _, data = get(owner_client, asset.pk)

    assert data["processing_status"] == "failed"
    assert data["last_error"] == data["jobs"][0]["error"] == "The original is not an image this server can read (corrupt or unsupported format)."
    assert data["jobs"][0]["attempts"] == 1 and data["jobs"][0]["failed_at"]


def test_it_answers_404_for_someone_elses_asset(client, other, owner):
    asset = make_asset(owner)
    client.force_login(other)

    response, data = get(client, asset.pk)

    assert response.status_code == 404 and data["error"]["code"] == "not_found"


def test_it_answers_401_without_login(client, owner):
    response, data = get(client, make_asset(owner).pk)
    assert response.status_code == 401 and data["error"]["code"] == "unauthenticated"


def test_it_refuses_post(owner_client, owner):
    assert owner_client.post(f"/api/images/{make_asset(owner).pk}/processing-status").status_code == 405


def test_it_uses_a_constant_number_of_queries(owner_client, owner, django_assert_num_queries):
    asset = make_asset(owner)
    for _ in range(5):
        queue_job(asset)
    # The asset, its jobs: however many jobs it has (the session's user is cached).
    with django_assert_num_queries(2):
        get(owner_client, asset.pk)
