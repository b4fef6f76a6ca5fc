import pytest

from conftest import make_asset, make_pipeline
from jobs.models import Output


@pytest.fixture
def pipeline(owner):
    return make_pipeline(owner, name="Detail me", outputs=3, steps=2, tags=["portrait"])


def test_it_returns_steps_and_the_output_grid_to_htmx(owner_client, pipeline):
    pipeline.steps.filter(order=1).update(status="failed", error="Provider said <no>")
    response = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('<a class="tile') == 3
    assert html.count('loading="lazy"') == 3
    assert 'width="300" height="225"' in html
    assert "Provider said &lt;no&gt;" in html
    first = pipeline.outputs.order_by("position").first().asset
    assert f'data-preview="/media/{first.renditions["600"]["name"]}"' in html
    assert f'href="{first.original.url}"' in html  # the original only on click


def test_it_is_a_page_of_its_own_without_htmx(owner_client, pipeline):
    html = owner_client.get(f"/jobs/{pipeline.id}/").content.decode()
    assert "<html" in html and "Detail me" in html and ">portrait<" in html


def test_it_shows_video_posters_that_play_on_hover(owner_client, owner, pipeline):
    video = make_asset(owner, kind="video")
    Output.objects.create(owner=owner, pipeline=pipeline, step=pipeline.steps.first(), asset=video, position=9)
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert f'poster="/media/{video.renditions["300"]["name"]}"' in html
    assert 'preload="none"' in html


def test_it_falls_back_to_a_placeholder_while_renditions_are_pending(owner_client, owner, pipeline):
    pending = make_asset(owner, renditions=False)
    Output.objects.create(owner=owner, pipeline=pipeline, step=pipeline.steps.first(), asset=pending, position=9)
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert "processing…" in html


def test_it_shows_outputs_imported_as_urls_as_not_fetched_yet_without_a_link(owner_client, owner, pipeline):
    remote = pipeline.outputs.order_by("position").first().asset
    type(remote).objects.filter(pk=remote.pk).update(
        original="", sha256=None, renditions={}, remote_url="https://cdn.example/1.png", processing_status="remote"
    )
    html = owner_client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count('<a class="tile') == 3 and html.count("not fetched yet") == 1
    assert 'href="None"' not in html and html.count('target="_blank"') == 2


def test_it_is_a_404_for_someone_elses_pipeline(client, other, pipeline):
    client.force_login(other)
    assert client.get(f"/jobs/{pipeline.id}/", HTTP_HX_REQUEST="true").status_code == 404


def test_it_uses_the_same_queries_for_1_and_50_outputs(owner_client, owner, django_assert_num_queries):
    small = make_pipeline(owner, outputs=1)
    big = make_pipeline(owner, outputs=50, steps=3)
    # session user, pipeline (with tags), steps, one page of outputs joined to assets
    for p in (small, big):
        with django_assert_num_queries(4):
            owner_client.get(f"/jobs/{p.id}/", HTTP_HX_REQUEST="true")


def test_it_pages_a_large_grid(owner_client, owner):
    big = make_pipeline(owner, outputs=55)
    html = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    assert html.count('<a class="tile"') == 50
    assert "Show more" in html
