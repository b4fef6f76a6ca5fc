from conftest import make_pipeline


def test_it_hides_and_unhides(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    owner_client.get("/jobs/", HTTP_HX_REQUEST="true")  # warm the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/jobs/{p.id}/hide", HTTP_HX_REQUEST="true")
    assert 'class="s-pending is-hidden"' in response.content.decode()  # dimmed in place
    assert b'id=row-' not in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/jobs/{p.id}/hide")
    p.refresh_from_db()
    assert not p.is_hidden


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/hide").status_code == 404
