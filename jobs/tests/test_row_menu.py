from conftest import make_pipeline


def test_it_offers_the_row_actions(owner_client, owner):
    p = make_pipeline(owner, name="A <b>name</b>", is_hidden=True)
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    for action in ("rename", "tags", "hide", "delete"):
        assert f"/jobs/{p.id}/{action}" in html
    assert "Unhide" in html
    assert "A &lt;b&gt;name&lt;/b&gt;" in html


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.get(f"/jobs/{p.id}/menu").status_code == 404
