import re

from conftest import make_pipeline


def test_it_returns_the_next_tiles_by_cursor(owner_client, owner):
    big = make_pipeline(owner, outputs=55)
    first = owner_client.get(f"/jobs/{big.id}/", HTTP_HX_REQUEST="true").content.decode()
    url = re.search(r'hx-get="([^"]+)" hx-swap="outerHTML">Show more', first).group(1).replace("&amp;", "&")
    more = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert more.count('<a class="tile"') == 5
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
