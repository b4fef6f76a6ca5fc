import pytest
from django.contrib.auth import get_user_model

from conftest import make_asset
from media_processing.models import ProcessingJob
from media_processing.tasks import run_job

from .conftest import queue_job


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", password="root-password-1"))
    return client


def failed_job(owner):
    job = queue_job(make_asset(owner, renditions=False), max_attempts=1)
    run_job.run(job.pk)
    return job


def act(client, path, action, ids, capture):
    with capture(execute=True):
        return client.post(path, {"action": action, "_selected_action": ids}, follow=True)


@pytest.mark.parametrize("query", ["", "?status__exact=failed", "?kind__exact=poster&queue__exact=backfill", "?q=1"])
def test_it_lists_jobs_with_filters(admin_client, owner, query):
    failed_job(owner)
    assert admin_client.get(f"/admin/media_processing/processingjob/{query}").status_code == 200


def test_it_opens_a_job(admin_client, owner):
    job = failed_job(owner)
    html = admin_client.get(f"/admin/media_processing/processingjob/{job.pk}/change/").content.decode()
    assert "is missing from storage" in html


def test_it_retries_failed_jobs_and_skips_the_rest(admin_client, owner, broker, django_capture_on_commit_callbacks):
    failed = failed_job(owner)
    done = queue_job(make_asset(owner), status="completed", attempts=1)

    response = act(admin_client, "/admin/media_processing/processingjob/", "retry_jobs", [failed.pk, done.pk], django_capture_on_commit_callbacks)

    assert "1 jobs queued again; 1 skipped (only failed jobs are retried)." in response.content.decode()
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, failed.attempts, done.status) == ("queued", 0, "completed")
    assert broker.job_ids("thumbnails") == [failed.pk]
    failed.asset.refresh_from_db()
    assert failed.asset.processing_status == "pending" and failed.asset.last_error == ""


def test_it_counts_the_skipped_under_the_failed_filter(admin_client, owner, broker, django_capture_on_commit_callbacks):
    # The admin's action acts on the filtered changelist; the retried jobs are no longer "failed" afterwards.
    jobs = [failed_job(owner), failed_job(owner)]
    path = "/admin/media_processing/processingjob/?status__exact=failed"

    response = act(admin_client, path, "retry_jobs", [j.pk for j in jobs], django_capture_on_commit_callbacks)

    assert "2 jobs queued again; 0 skipped (only failed jobs are retried)." in response.content.decode()
    assert sorted(broker.job_ids("thumbnails")) == sorted(j.pk for j in jobs)


def test_it_retries_assets_from_the_asset_admin(admin_client, owner, django_capture_on_commit_callbacks):
    failed = failed_job(owner)
    busy = make_asset(owner, renditions=False)
    queue_job(busy)

    response = act(admin_client, "/admin/library/asset/", "retry_assets", [failed.asset_id, busy.pk], django_capture_on_commit_callbacks)

    assert "1 assets queued again; 1 already queued or processing; 0 had nothing to retry." in response.content.decode()
    assert set(ProcessingJob.objects.filter(asset_id=failed.asset_id).values_list("kind", "status")) == {
        ("thumbnails", "queued"), ("variants", "queued"),
    }  # fmt: skip
