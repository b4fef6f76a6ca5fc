from conftest import make_pipeline
from jobs.models import Output, Pipeline, Step
from library.models import Asset


def test_it_deletes_the_pipeline_with_its_steps_and_outputs_but_not_assets(owner_client, owner):
    p = make_pipeline(owner, outputs=3, steps=2)
    response = owner_client.post(f"/jobs/{p.id}/delete", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert not Pipeline.objects.filter(pk=p.pk).exists()
    assert not Step.objects.filter(pipeline_id=p.pk).exists()
    assert not Output.objects.filter(pipeline_id=p.pk).exists()
    assert Asset.objects.filter(owner=owner).count() == 3  # the library keeps them


def test_it_drops_the_row_from_the_cached_list(owner_client, owner, django_capture_on_commit_callbacks):
    p = make_pipeline(owner)
    assert b'id="row-' in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/jobs/{p.id}/delete")
    assert b'id="row-' not in owner_client.get("/jobs/", HTTP_HX_REQUEST="true").content


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.post(f"/jobs/{p.id}/delete").status_code == 404
    assert Pipeline.objects.filter(pk=p.pk).exists()
