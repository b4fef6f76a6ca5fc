"""/library/<id>/tile: one tile (a just-uploaded file's); pending ones are watched (data-watch), 286 once complete or failed."""

from conftest import make_asset
from library.models import Asset
from media_processing.renditions import render_image


def pending_asset(owner):
    asset = make_asset(owner, renditions=False)
    Asset.objects.filter(pk=asset.pk).update(processing_status="pending")
    asset.refresh_from_db()
    return asset


def test_it_is_watched_while_renditions_are_pending(owner_client, owner):
    asset = pending_asset(owner)
    response = owner_client.get(f"/library/{asset.id}/tile", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<li class="asset tile s-pending" id="asset-{asset.id}"')
    assert f'data-watch="{asset.id}:pending"' in html and ">processing<" in html and "hx-trigger" not in html


def test_it_stops_polling_with_286_once_complete(owner_client, owner):
    asset = pending_asset(owner)
    asset.processing_status = "complete"
    asset.renditions = make_asset(owner).renditions
    asset.save()
    response = owner_client.get(f"/library/{asset.id}/tile", HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    html = response.content.decode()
    assert "data-watch" not in html and 'loading="lazy"' in html
    assert '<span class="badge s-completed fade">complete</span>' in html  # says so, then fades


def test_it_shows_the_renditions_the_worker_made(owner_client, owner, settings):
    from django.core.files.base import ContentFile

    from library.tests import files

    asset = pending_asset(owner)
    asset.original.save("x.png", ContentFile(files.png((640, 480))), save=False)
    asset.save(update_fields=render_image(asset) + ["original"])
    html = owner_client.get(f"/library/{asset.id}/tile").content.decode()
    assert f'src="/media/{asset.renditions["300"]["name"]}"' in html and 'width="300" height="225"' in html


def test_it_stops_polling_with_286_once_failed(owner_client, owner):
    asset = pending_asset(owner)
    Asset.objects.filter(pk=asset.pk).update(processing_status="failed", last_error="decoder said no")
    response = owner_client.get(f"/library/{asset.id}/tile", HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    html = response.content.decode()
    assert "decoder said no" in html and "Retry</button>" in html and "data-watch" not in html


def test_it_is_a_404_for_someone_elses_asset(client, owner, other):
    asset = pending_asset(owner)
    client.force_login(other)
    assert client.get(f"/library/{asset.id}/tile").status_code == 404


def test_it_requires_login(client, owner):
    asset = pending_asset(owner)
    assert client.get(f"/library/{asset.id}/tile").status_code == 302


def test_it_costs_one_query(owner_client, owner, django_assert_num_queries):
    asset = pending_asset(owner)
    with django_assert_num_queries(1):  # the asset (the session's user is cached)
        owner_client.get(f"/library/{asset.id}/tile")
