"""The "fetch" processing job and its downloads (library/remote.py): a remote asset
imported from i2v gets its bytes from a real HTTP server on loopback, then renditions."""

import hashlib

import pytest
from django.core.files.storage import default_storage

from conftest import make_pipeline
from jobs.models import Output
from library import remote
from library.media import original_name
from library.models import Asset
from library.tests.files import jpeg, png
from library.tests.remote_server import Reply
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.REMOTE_FETCH_BACKOFF_SECONDS = 0


def remote_asset(owner, url, kind="image"):
    """An asset as import_i2v leaves a URL it did not fetch, with its fetch job queued."""
    asset = Asset.objects.create(
        owner=owner, kind=kind, source="generated", sha256=None, remote_url=url, filename=url.rsplit("/", 1)[-1],
        processing_status="remote",
    )  # fmt: skip
    ProcessingJob.objects.backfill(Asset.objects.filter(pk=asset.pk))
    return asset


def fetch_job(asset):
    return ProcessingJob.objects.get(asset=asset, kind="fetch")


def test_it_queues_a_fetch_at_backfill_priority_for_a_remote_asset(owner):
    asset = remote_asset(owner, "https://cdn.example/a.png")
    job = fetch_job(asset)
    assert (job.queue, job.priority, job.status) == ("backfill", ProcessingJob.PRIORITIES["backfill"], "queued")
    assert asset.is_remote and list(asset.processing_jobs.values_list("kind", flat=True)) == ["fetch"]


def test_it_fetches_the_bytes_stores_them_by_content_and_queues_renditions(owner, remote_server):
    data = png((120, 80))
    asset = remote_asset(owner, remote_server.route("/out/cat.png", Reply(body=data, headers={"Content-Type": "image/png"})))
    assert run_job(fetch_job(asset).id) == "completed"
    asset.refresh_from_db()
    sha = hashlib.sha256(data).hexdigest()
    assert (asset.sha256, asset.mime, asset.bytes, asset.width, asset.height) == (sha, "image/png", len(data), 120, 80)
    assert asset.original.name == original_name(owner.pk, sha, "png") and default_storage.exists(asset.original.name)
    assert asset.processing_status == "pending" and not asset.is_remote
    assert asset.remote_url.endswith("/out/cat.png")  # kept: where it came from
    queued = asset.processing_jobs.filter(status="queued")
    assert sorted(queued.values_list("kind", "queue")) == [("thumbnails", "backfill"), ("variants", "backfill")]
    assert fetch_job(asset).status == "completed"


def test_it_merges_into_the_owners_asset_with_the_same_bytes(owner, other, remote_server):
    data = jpeg((40, 30))
    sha = hashlib.sha256(data).hexdigest()
    mine = Asset.objects.create(owner=owner, sha256=sha, original=original_name(owner.pk, sha, "jpg"), processing_status="complete")
    theirs = Asset.objects.create(owner=other, sha256=sha, original=original_name(other.pk, sha, "jpg"))
    url = remote_server.route("/same.jpg", Reply(body=data))
    asset = remote_asset(owner, url)
    pipeline = make_pipeline(owner, outputs=0)
    Output.objects.create(owner=owner, pipeline=pipeline, step=pipeline.steps.first(), asset=asset, position=0)
    run_job(fetch_job(asset).id)
    assert not Asset.objects.filter(pk=asset.pk).exists()  # its fetch job went with it
    assert list(pipeline.outputs.values_list("asset_id", flat=True)) == [mine.pk]
    assert Asset.objects.filter(pk=theirs.pk).exists() and theirs.outputs.count() == 0


def test_it_retries_server_errors_and_honours_retry_after(remote_server, owner):
    data = png()
    url = remote_server.route(
        "/flaky.png", Reply(503), Reply(429, headers={"Retry-After": "0"}), Reply(body=data),
    )  # fmt: skip
    with remote.client() as http:
        stored = remote.download_and_store(http, url, owner.pk)
    assert remote_server.hits["/flaky.png"] == 3
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and default_storage.exists(stored.name)


def test_it_gives_up_on_a_404_at_once_and_on_a_server_error_after_its_attempts(remote_server):
    missing = remote_server.route("/gone.png", Reply(404))
    down = remote_server.route("/down.png", Reply(502))
    with remote.client() as http:
        with pytest.raises(remote.RemoteError, match="HTTP 404") as gone:
            remote.download(http, missing)
        with pytest.raises(remote.RemoteError, match=r"HTTP 502 .* \(after 3 attempts\)") as failing:
            remote.download(http, down)
    assert gone.value.permanent and not failing.value.permanent
    assert (remote_server.hits["/gone.png"], remote_server.hits["/down.png"]) == (1, 3)


def test_it_stops_at_the_size_cap_whatever_the_server_says(settings, remote_server):
    settings.REMOTE_FETCH_MAX_BYTES = 10_000
    big = b"\xff" * 20_000
    announced = remote_server.route("/big.png", Reply(body=big))
    unannounced = remote_server.route("/sneaky.png", Reply(body=big, length=False))
    with remote.client() as http:
        for url in (announced, unannounced):
            with pytest.raises(remote.RemoteError, match="at most 0.00954 MB is fetched") as error:
                remote.download(http, url)
            assert error.value.permanent
    assert remote_server.hits == {"/big.png": 1, "/sneaky.png": 1}


def test_it_fails_the_asset_with_the_reason_after_its_last_attempt_and_a_retry_fetches_again(owner, remote_server):
    asset = remote_asset(owner, remote_server.route("/page.png", Reply(body=b"<html>a login page</html>")))
    ProcessingJob.objects.filter(asset=asset).update(max_attempts=1)
    assert run_job(fetch_job(asset).id) == "failed"
    asset.refresh_from_db()
    assert asset.processing_status == "failed" and asset.is_remote
    assert "not an image or video format we accept" in asset.last_error
    [job] = ProcessingJob.objects.retry(asset)
    assert (job.kind, job.status) == ("fetch", "queued")
    asset.refresh_from_db()
    assert asset.processing_status == "pending"


def test_it_refuses_urls_that_are_not_http(owner):
    with remote.client() as http:
        for url in ("ftp://cdn.example/a.png", "file:///etc/passwd", "https://" + "a" * 3000):
            with pytest.raises(remote.RemoteError) as error:
                remote.download(http, url)
            assert error.value.permanent


def test_it_leaves_an_asset_that_has_its_original_alone(owner, remote_server):
    url = remote_server.route("/x.png", Reply(body=png()))
    asset = remote_asset(owner, url)
    Asset.objects.filter(pk=asset.pk).update(original="originals/aa/already.png", sha256="a" * 64)
    assert run_job(fetch_job(asset).id) == "completed"
    assert remote_server.hits == {}  # a redelivered message fetches nothing
