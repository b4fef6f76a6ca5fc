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
