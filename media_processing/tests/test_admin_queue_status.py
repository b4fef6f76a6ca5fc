from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conftest import make_asset
from media_processing.models import QueueState

from .conftest import queue_job

PAGE = "/admin/media_processing/queuestate/"


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", password="root-password-1"))
    return client


def test_it_is_linked_from_the_admin_index(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert f'href="{PAGE}"' in html and "Queue status" in html


def test_it_shows_the_same_figures_as_the_api(admin_client, owner):
    for _ in range(3):
        queue_job(make_asset(owner))
    queue_job(make_asset(owner), status="failed", attempts=3, error="The original file (x) is missing from storage.", failed_at=timezone.now())

    response = admin_client.get(PAGE)

    assert response.status_code == 200
    status = response.context["status"]
    assert (status["queue_size"], status["failed_count"]) == (3, 1)
    html = response.content.decode()
    assert '<td id="queue-size">3</td>' in html
    assert "The original file (x) is missing from storage." in html


def test_it_shows_a_paused_queue_and_resumes_it(admin_client, owner, broker, django_capture_on_commit_callbacks):
    QueueState.objects.create(queue="thumbnails", consecutive_failures=10, paused_until=timezone.now() + timedelta(minutes=5))
    parked = queue_job(make_asset(owner), sent_at=None)
    assert "Paused until" in admin_client.get(PAGE).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{PAGE}thumbnails/resume/", follow=True)

    assert response.status_code == 200
    assert "Queue thumbnails resumed; 1 waiting jobs sent." in response.content.decode()
    assert not QueueState.objects.get(queue="thumbnails").is_paused()
    assert broker.job_ids("thumbnails") == [parked.pk]


def test_it_resumes_only_by_post(admin_client):
    assert admin_client.get(f"{PAGE}thumbnails/resume/").status_code == 405


def test_it_keeps_out_people_who_are_not_staff(owner_client):
    response = owner_client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]
