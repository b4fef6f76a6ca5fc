import json

from conftest import make_pipeline
from i2v.models import ApiToken


def test_it_stores_only_a_hash(owner):
    raw = ApiToken.issue(owner)
    token = ApiToken.objects.get(user=owner)
    assert raw.startswith("i2v_") and raw not in token.key_hash and token.prefix == raw[:10]


def test_it_replaces_the_old_token(client, owner):
    old = ApiToken.issue(owner)
    new = ApiToken.issue(owner)
    assert client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    assert client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200


def test_it_does_not_need_csrf_for_token_requests(owner):
    from django.test import Client

    raw = ApiToken.issue(owner)
    p = make_pipeline(owner)
    strict = Client(enforce_csrf_checks=True)
    response = strict.get(f"/api/pipelines/{p.id}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and json.loads(response.content)["id"] == p.id


def test_it_refuses_tokens_of_inactive_users(client, owner):
    raw = ApiToken.issue(owner)
    owner.is_active = False
    owner.save()
    assert client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_it_reads_the_scheme_in_any_case(client, owner):
    raw = ApiToken.issue(owner)
    for scheme in ("bearer", "BEARER", "BeArEr"):
        response = client.get("/api/pipelines", HTTP_AUTHORIZATION=f"{scheme} {raw}")
        assert response.status_code == 200, scheme


def test_it_refuses_another_scheme(client, owner):
    raw = ApiToken.issue(owner)
    for header in (f"Basic {raw}", f"Bearerx {raw}", f"Token {raw}", raw):
        assert client.get("/api/pipelines", HTTP_AUTHORIZATION=header).status_code == 401, header
