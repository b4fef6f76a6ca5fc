from conftest import make_pipeline


def test_it_shows_an_inline_form(owner_client, owner):
    p = make_pipeline(owner, name="Old")
    html = owner_client.get(f"/jobs/{p.id}/rename", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="name" value="Old"' in html


def test_it_renames_and_keeps_search_working(owner_client, owner):
    p = make_pipeline(owner, name="Old name", prompt="red boots")
    response = owner_client.post(f"/jobs/{p.id}/rename", {"name": "  Brand <i>new</i> name "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Brand &lt;i&gt;new&lt;/i&gt; name" in response.content.decode()
    p.refresh_from_db()
    assert p.name == "Brand <i>new</i> name"
    assert owner_client.get("/jobs/?q=%3Ci%3Enew", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 1
    assert owner_client.get("/jobs/?q=red+boots", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 1
    assert owner_client.get("/jobs/?q=old", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 0


def test_it_rejects_an_empty_name_in_place(owner_client, owner):
    p = make_pipeline(owner, name="Keep")
    response = owner_client.post(f"/jobs/{p.id}/rename", {"name": "   "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert response["HX-Retarget"] == f"#row-{p.id} [data-part=name]"
    assert "This field is required" in response.content.decode()
    p.refresh_from_db()
    assert p.name == "Keep"


def test_it_rejects_a_name_too_long(owner_client, owner):
    p = make_pipeline(owner, name="Keep")
    assert owner_client.post(f"/jobs/{p.id}/rename", {"name": "x" * 201}).status_code == 422


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner, name="Mine")
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/rename", {"name": "Theirs"}).status_code == 404
    p.refresh_from_db()
    assert p.name == "Mine"


def test_it_keeps_a_name_to_one_line_of_plain_characters(owner_client, owner):
    pipeline = make_pipeline(owner, name="Before")
    response = owner_client.post(f"/jobs/{pipeline.id}/rename", {"name": "photo\u202egpj.exe\tnew\nline"})
    assert response.status_code == 200
    pipeline.refresh_from_db()
    assert pipeline.name == "photogpj.exe new line"
