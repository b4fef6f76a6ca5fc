"""Revoking the API token from Settings: deleted, so the API refuses it at once (cached or not)."""

from i2v.models import ApiToken


def test_it_revokes_the_token_so_the_api_refuses_it(owner_client, owner, client, other):
    raw = owner_client.post("/settings/", follow=True).context["new_token"]
    theirs = ApiToken.issue(other)
    assert client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200  # now cached
    assert 'action="/settings/token/revoke"' in owner_client.get("/settings/").content.decode()

    response = owner_client.post("/settings/token/revoke", follow=True)
    assert response.redirect_chain == [("/settings/", 302)]
    html = response.content.decode()
    assert 'data-testid="revoked"' in html and "Create token" in html and "Revoke token" not in html
    assert not ApiToken.objects.filter(user=owner).exists()
    response = client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_token"
    assert client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {theirs}").status_code == 200  # another's stays
    assert 'data-testid="revoked"' not in owner_client.get("/settings/").content.decode()  # said once


def test_it_revokes_nothing_on_a_get(owner_client, owner):
    ApiToken.issue(owner)
    response = owner_client.get("/settings/token/revoke")  # a reload, a link: no change
    assert (response.status_code, response["Location"]) == (302, "/settings/")
    assert ApiToken.objects.filter(user=owner).exists()


def test_it_needs_a_login(client):
    assert client.post("/settings/token/revoke")["Location"].startswith("/login/")
