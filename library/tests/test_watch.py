"""/library/watch: the Library grid's one live request for its tiles still processing (i2v/lib/watch.py)."""

import pytest

from conftest import make_asset
from i2v.lib.watch import WATCH_MAX
from library.models import Asset


def pending(owner):
    asset = make_asset(owner, renditions=False)
    Asset.objects.filter(pk=asset.pk).update(processing_status="pending")
    return asset


def test_it_answers_204_while_nothing_finished(owner_client, owner):
    assets = [pending(owner) for _ in range(3)]
    response = owner_client.get("/library/watch", {"watch": ",".join(f"{a.id}:pending" for a in assets)})
    assert response.status_code == 204


def test_it_returns_the_tiles_whose_status_changed_out_of_band(owner_client, owner):
    waiting, started, finished = (pending(owner) for _ in range(3))
    Asset.objects.filter(pk=started.pk).update(processing_status="processing")
    Asset.objects.filter(pk=finished.pk).update(processing_status="complete", renditions=make_asset(owner).renditions, thumbhash="1QcSHQRnh493V4dIh4eXh1h4kJUI")
    value = ",".join(f"{a.id}:pending" for a in (waiting, started, finished))
    html = owner_client.get("/library/watch", {"watch": value}).content.decode()
    assert html.count("hx-swap-oob") == 2 and f'id="asset-{waiting.id}"' not in html
    assert f'data-watch="{started.id}:processing" hx-swap-oob="outerHTML"' in html
    finished_tile = html[html.index(f'id="asset-{finished.id}"') :]
    assert "data-watch" not in finished_tile.split("</li>")[0]
    assert '<span class="badge s-completed fade">complete</span>' in html
    assert 'data-thumbhash="1QcSHQRnh493V4dIh4eXh1h4kJUI"' in html


def test_it_removes_tiles_that_are_gone_and_shows_nothing_of_other_users(owner_client, owner, other):
    theirs = pending(other)
    Asset.objects.filter(pk=theirs.pk).update(filename="their-secret.jpg")
    html = owner_client.get("/library/watch", {"watch": f"{theirs.id}:pending,999999:pending"}).content.decode()
    assert f'<li id="asset-{theirs.id}" hx-swap-oob="delete">' in html and '<li id="asset-999999" hx-swap-oob="delete">' in html
    assert "their-secret" not in html


@pytest.mark.parametrize("value", ["", "abc", "1:pending;2", "-1:pending", ",".join(f"{i}:pending" for i in range(WATCH_MAX + 1))])
def test_it_refuses_a_bad_list_with_400(owner_client, value):
    response = owner_client.get("/library/watch", {"watch": value})
    assert response.status_code == 400 and response.content


@pytest.mark.parametrize("count", [1, WATCH_MAX])
def test_it_costs_the_same_queries_however_many_tiles(owner_client, owner, count, django_assert_num_queries):
    assets = [pending(owner) for _ in range(count)]
    with django_assert_num_queries(1):  # the watched tiles (the user is cached)
        response = owner_client.get("/library/watch", {"watch": ",".join(f"{a.id}:complete" for a in assets)})
    assert response.content.decode().count("hx-swap-oob") == count
