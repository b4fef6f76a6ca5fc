from i2v.models import ApiToken


def test_it_shows_a_new_token_once(owner_client, owner):
    response = owner_client.post("/settings/")
    raw = response.context["new_token"]
    assert raw in response.content.decode()
    again = owner_client.get("/settings/").content.decode()
    assert raw not in again and raw[:10] in again
    assert ApiToken.objects.get(user=owner).prefix == raw[:10]


def test_it_needs_a_login(client):
    assert client.get("/settings/").status_code == 302
