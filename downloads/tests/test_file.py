"""GET /downloads/outputs/<id> and /downloads/assets/<id>: one file, as an attachment under a readable name."""

import pytest
from django.db import connection
from django_sendfile.utils import _get_sendfile

from i2v.models import ApiToken


def test_it_downloads_an_output_under_its_zip_name(owner_client, owner, stored_pipeline, django_assert_num_queries):
    p = stored_pipeline(owner, outputs=2, prompt="Ünïcode café / <b>", model="flux-kontext")
    second = p.outputs.order_by("position")[1]
    with django_assert_num_queries(1, connection=connection):  # the output with its step and pipeline (the user is cached)
        response = owner_client.get(f"/downloads/outputs/{second.id}")
    assert response.status_code == 200
    # The name as it reads (UTF-8, RFC 6266), and folded to ASCII for a client that takes only that.
    assert response["Content-Disposition"] == (
        'attachment; filename="02_unicode-cafe-b_flux-kontext_42.jpg"; filename*=UTF-8\'\'02_%C3%BCn%C3%AFcode-caf%C3%A9-b_flux-kontext_42.jpg'
    )
    assert b"".join(response.streaming_content) == f"file {p.id}-1".encode()
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_downloads_a_library_item_under_its_original_name(owner_client, owner, stored_asset_named, django_assert_num_queries):
    asset = stored_asset_named(owner, "My holiday.jpeg", data=b"holiday")
    with django_assert_num_queries(1, connection=connection):  # the asset (the user is cached)
        response = owner_client.get(f"/downloads/assets/{asset.id}")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="My-holiday.jpg"'
    assert b"".join(response.streaming_content) == b"holiday"


def test_it_downloads_a_generated_library_item_under_its_outputs_name(owner_client, owner, stored_pipeline, django_assert_num_queries):
    p = stored_pipeline(owner, outputs=2, model="flux-kontext")
    second = p.outputs.select_related("asset").order_by("position")[1]
    with django_assert_num_queries(2, connection=connection):  # the asset, the output that made it
        response = owner_client.get(f"/downloads/assets/{second.asset_id}")
    assert response["Content-Disposition"] == 'attachment; filename="02_a-red-fox-at-dusk_flux-kontext_42.jpg"'


def test_it_answers_a_script_asking_for_someone_elses_file_in_json(client, owner, other, stored_asset_named):
    theirs = stored_asset_named(other, "x.png")
    response = client.get(f"/downloads/assets/{theirs.id}", HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_it_is_404_for_someone_elses_or_missing_ids(owner_client, other, stored_pipeline, stored_asset_named):
    theirs = stored_pipeline(other, outputs=1)
    assert owner_client.get(f"/downloads/outputs/{theirs.outputs.get().id}").status_code == 404
    assert owner_client.get(f"/downloads/assets/{stored_asset_named(other, 'x.png').id}").status_code == 404
    assert owner_client.get("/downloads/assets/999999").status_code == 404
    assert owner_client.get("/downloads/outputs/99999999999999999999999").status_code == 404


@pytest.fixture
def nginx(settings):
    # django-sendfile2 caches the backend it loaded.
    settings.SENDFILE_BACKEND, settings.SENDFILE_URL = "django_sendfile.backends.nginx", "/_protected"
    _get_sendfile.cache_clear()
    yield
    _get_sendfile.cache_clear()


def test_it_hands_the_file_to_nginx_with_its_name(owner_client, owner, nginx, stored_asset_named):
    asset = stored_asset_named(owner, "clip.png")
    response = owner_client.get(f"/downloads/assets/{asset.id}")
    assert response["X-Accel-Redirect"] == f"/_protected/{asset.original.name}"
    assert response["Content-Disposition"] == 'attachment; filename="clip.jpg"'
    assert response.content == b""
