from datetime import timedelta

from django.utils import timezone

from i2v.models import ApiToken


def test_it_shows_a_new_token_once(owner_client, owner):
    response = owner_client.post("/settings/", follow=True)
    assert response.redirect_chain == [("/settings/", 302)]
    raw = response.context["new_token"]
    assert raw in response.content.decode()
    again = owner_client.get("/settings/").content.decode()
    assert raw not in again and raw[:10] in again
    assert ApiToken.objects.get(user=owner).prefix == raw[:10]


def test_it_keeps_the_new_token_when_the_page_is_reloaded(owner_client, owner):
    # A reload after the POST is a GET of the page it redirected to: the token copied still works.
    raw = owner_client.post("/settings/", follow=True).context["new_token"]
    owner_client.get("/settings/")
    assert ApiToken.objects.get(user=owner).prefix == raw[:10]
    assert owner_client.get("/api/pipelines", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_it_needs_a_login(client):
    assert client.get("/settings/").status_code == 302


def test_it_points_at_api_documentation_a_person_can_open(owner_client):
    html = owner_client.get("/settings/").content.decode()
    assert '<a href="/api/openapi.json" data-testid="openapi">/api/openapi.json</a>' in html
    assert "described in" not in html and "<code>/app/docs/api.md</code> in the Docker image" in html


def test_it_dates_a_replaced_token_when_it_was_replaced(owner_client, owner):
    owner_client.post("/settings/")
    ApiToken.objects.filter(user=owner).update(created_at=timezone.now() - timedelta(days=30))
    owner_client.post("/settings/", follow=True)  # the page that shows the new value once
    token = ApiToken.objects.get(user=owner)
    assert timezone.now() - token.created_at < timedelta(minutes=1)
    assert f"made {token.created_at:%Y-%m-%d %H:%M} UTC" in owner_client.get("/settings/").content.decode()
