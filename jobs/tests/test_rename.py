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
    assert response.status_code == 302  # a plain form, the pipeline page's: back to it
    pipeline.refresh_from_db()
    assert pipeline.name == "photogpj.exe new line"


def test_it_answers_the_pipeline_pages_head_with_its_title_when_asked_from_there(owner_client, owner):
    p = make_pipeline(owner, name="Old")
    head = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"head-{p.id}"}
    html = owner_client.post(f"/jobs/{p.id}/rename", {"name": "New <name>"}, **head).content.decode()
    assert "<title>New &lt;name&gt; · i2v</title>" in html and "<h1>New &lt;name&gt;</h1>" in html and "<tr" not in html
    refused = owner_client.post(f"/jobs/{p.id}/rename", {"name": "  "}, **head)
    html = refused.content.decode()
    assert refused.status_code == 422 and "HX-Retarget" not in refused  # its own form, in the head, shows why
    assert "<details open><summary>Rename</summary>" in html and "This field is required" in html and "<h1>New &lt;name&gt;</h1>" in html


def test_it_shows_the_page_again_with_the_error_without_javascript(owner_client, owner):
    p = make_pipeline(owner, name="Keep")
    response = owner_client.post(f"/jobs/{p.id}/rename", {"name": "x" * 201})
    html = response.content.decode()
    assert response.status_code == 422 and "<html" in html and 'data-testid="pipeline-state"' in html
    assert "<details open><summary>Rename</summary>" in html and "at most 200 characters" in html
    assert f'value="{"x" * 201}"' in html  # what was typed, to mend
