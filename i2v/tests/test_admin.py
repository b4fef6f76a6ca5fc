import pytest
from django.contrib.auth import get_user_model

from conftest import make_pipeline


@pytest.fixture
def staff_client(client, db):
    admin = get_user_model().objects.create_superuser("root", password="root-password-1")
    client.force_login(admin)
    return client, admin


@pytest.mark.parametrize("path", ["/admin/", "/admin/jobs/pipeline/", "/admin/jobs/step/", "/admin/jobs/output/", "/admin/jobs/tag/", "/admin/library/asset/", "/admin/i2v/apitoken/", "/admin/imports/importsource/", "/admin/imports/importrecord/"])
def test_it_lists_every_model(staff_client, path):
    client, admin = staff_client
    make_pipeline(admin, tags=["x"])
    assert client.get(path).status_code == 200


def test_it_opens_a_pipeline_with_its_steps(staff_client):
    client, admin = staff_client
    p = make_pipeline(admin, steps=2)
    assert client.get(f"/admin/jobs/pipeline/{p.id}/change/").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/admin/jobs/pipeline/?status__exact=%00", "/admin/jobs/step/?q=a%00b", "/admin/library/tombstone/%00/change/",
     "/admin/hooks/delivery/?status__exact=%00", "/admin/jobs/pipeline/?a%00=1"],
)  # fmt: skip
def test_it_refuses_an_address_holding_a_nul_with_a_400(staff_client, path):
    client, admin = staff_client
    response = client.get(path)
    assert response.status_code == 400
    assert "The address holds a NUL character (%00), which no record can hold." in response.content.decode()


@pytest.mark.parametrize(
    "path",
    ["/admin/library/asset/?created_at__year=99999", "/admin/hooks/delivery/?created_at__year=0",
     "/admin/i2v/apitoken/?created_at__year__gte=-5", "/admin/jobs/step/?created_at__iso_year=abc"],
)  # fmt: skip
def test_it_refuses_a_year_no_date_holds_with_a_400(staff_client, path):
    client, admin = staff_client
    response = client.get(path)
    assert response.status_code == 400
    assert "A year in the address must be a whole number from 1 to 9999." in response.content.decode()


def test_it_still_filters_by_a_year(staff_client):
    client, admin = staff_client
    make_pipeline(admin)
    assert client.get("/admin/library/asset/?created_at__year=2026").status_code == 200


@pytest.mark.parametrize(
    "path, action, selected",
    [("/admin/library/asset/", "retry_assets", "99999999999999999999"), ("/admin/library/asset/", "delete_with_outputs", "abc"),
     ("/admin/jobs/pipeline/", "delete_selected", "1.5"), ("/admin/media_processing/processingjob/", "retry_jobs", "-1")],
)  # fmt: skip
def test_it_refuses_an_action_on_ids_no_record_has_with_a_400(staff_client, path, action, selected):
    client, admin = staff_client
    p = make_pipeline(admin)
    response = client.post(path, {"action": action, "_selected_action": [str(p.id), selected], "index": "0"})
    assert response.status_code == 400
    assert f"The records to act on are named by their ids, and “{selected[:20]}” is none." in response.content.decode()
    assert admin.pipelines.filter(pk=p.pk).exists()


def test_it_acts_on_well_formed_ids_and_keys(staff_client):
    client, admin = staff_client
    p = make_pipeline(admin)
    response = client.post("/admin/jobs/pipeline/", {"action": "delete_selected", "_selected_action": [str(p.id)], "post": "yes"})
    assert response.status_code == 302 and not admin.pipelines.exists()
    # A model whose key is a text: any text is one (the collector's tombstones, named by their file).
    response = client.post("/admin/library/tombstone/", {"action": "delete_selected", "_selected_action": ["a/b.jpg"]})
    assert response.status_code in (200, 302)
