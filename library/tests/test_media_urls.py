"""Every page and list links media through the app's authorising view, with URLs built from
database fields: no storage call (not even S3's presigning), and no query of its own."""

from unittest import mock

import pytest
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.core.files.storage import FileSystemStorage

from conftest import first_page_queries, make_asset, make_pipeline

HX = {"HTTP_HX_REQUEST": "true"}
S3 = {
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {"bucket_name": "nowhere", "endpoint_url": "http://127.0.0.1:1", "access_key": "x", "secret_key": "y"},
}


@pytest.fixture
def no_storage():
    """Any call to the media storage fails the test (the static files' storage, which
    WhiteNoise reads once when STATIC_ROOT has files, is not the media's)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a page asked the storage")

    def media_only(name):
        original = getattr(FileSystemStorage, name)

        def guarded(storage, *args, **kwargs):
            if isinstance(storage, StaticFilesStorage):
                return original(storage, *args, **kwargs)
            refuse()

        return guarded

    names = ("url", "exists", "open", "path", "size", "listdir", "get_modified_time")
    with mock.patch.multiple(FileSystemStorage, **{name: media_only(name) for name in names}):
        with mock.patch("storages.backends.s3.S3Storage.url", refuse):
            yield


@pytest.fixture
def content(owner):
    pipeline = make_pipeline(owner, outputs=3)
    return pipeline, [make_asset(owner) for _ in range(3)]


@pytest.mark.parametrize("storage", ["disk", "s3"])
def test_it_lists_media_urls_of_the_owners_folder_without_the_storage(
    owner_client, owner, content, no_storage, settings, storage, django_assert_num_queries
):
    if storage == "s3":
        settings.STORAGES = {**settings.STORAGES, "default": S3}
    pipeline, assets = content
    prefix = f"/media/u/{owner.id}/"
    # Each list's second request has its filters' estimate from the first (this process keeps it a minute).
    pages = [("/library/", first_page_queries()), ("/api/library/images", first_page_queries(estimated=True)),
             ("/jobs/", first_page_queries()), ("/api/pipelines", first_page_queries(estimated=True)),
             (f"/jobs/{pipeline.id}/", 5), (f"/api/pipelines/{pipeline.id}/outputs", 3)]  # fmt: skip
    settings.LIST_CACHE = False
    for url, queries in pages:
        with django_assert_num_queries(queries):
            response = owner_client.get(url, **HX)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert prefix in text, url
        assert "/media/r/" not in text and "/media/originals/" not in text and "X-Amz" not in text, url


def test_it_shows_each_tile_the_owners_own_urls(owner_client, owner, no_storage):
    asset = make_asset(owner)
    html = owner_client.get("/library/", **HX).content.decode()
    for entry in asset.renditions.values():
        assert f"/media/{entry['name']}" in html
    assert f'href="/media/{asset.original.name}"' in html
