import re

from conftest import make_pipeline
from jobs.detail import OUTPUT_PAGE_HTML


def test_it_returns_the_next_tiles_by_cursor(owner_client, owner):
    big = make_pipeline(owner, outputs=55)
    first = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    url = re.search(r'hx-get="([^"]+)" hx-swap="outerHTML">Show more', first).group(1).replace("&amp;", "&")
    more = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert more.count('<a class="tile"') == 55 - OUTPUT_PAGE_HTML
    assert "Show more" not in more
    seen = re.findall(r'data-preview="([^"]+)"', first) + re.findall(r'data-preview="([^"]+)"', more)
    assert len(seen) == len(set(seen)) == 55


def test_it_rejects_a_bad_cursor(owner_client, owner):
    p = make_pipeline(owner)
    response = owner_client.get(f"/jobs/{p.id}/outputs?cursor=nope", HTTP_HX_REQUEST="true")
    assert response.status_code == 400


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.get(f"/jobs/{p.id}/outputs").status_code == 404


def test_it_shows_the_whole_detail_page_at_the_cursor_without_htmx(owner_client, owner):
    # The "Show more" link followed without JavaScript (or opened in a new tab).
    big = make_pipeline(owner, name="Big run", outputs=55)
    first = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    url = re.search(r'href="([^"]+)"\s+hx-get="[^"]+" hx-swap="outerHTML">Show more', first).group(1).replace("&amp;", "&")
    page = owner_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "<title>Big run · i2v</title>" in html
    assert html.count('<a class="tile"') == min(OUTPUT_PAGE_HTML, 55 - OUTPUT_PAGE_HTML) and '<table class="steps">' in html


def test_it_shows_the_whole_detail_page_without_a_cursor(owner_client, owner):
    p = make_pipeline(owner, outputs=3)
    response = owner_client.get(f"/jobs/{p.id}/outputs")
    assert response.status_code == 200 and response.content.decode().count('<a class="tile"') == 3
