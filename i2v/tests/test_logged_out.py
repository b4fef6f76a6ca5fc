"""A tab left open after its session ended, or after a new login (i2v/lib/logged_out.py, errors.csrf_failure):
htmx requests take the tab to the login page and back; plain forms get a page that says what happened."""

import pytest
from django.test import Client

from conftest import make_pipeline
from jobs.models import Pipeline

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/jobs/?status=failed&q=a%20b"}


@pytest.fixture
def strict():
    return Client(enforce_csrf_checks=True)


def test_it_sends_a_logged_out_tabs_htmx_request_to_the_login_page_and_back(client, owner):
    p = make_pipeline(owner)
    response = client.get(f"/jobs/{p.id}/", **HX)
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == "/login/?next=/jobs/%3Fstatus%3Dfailed%26q%3Da%2520b"


def test_it_leaves_a_plain_requests_redirect_to_the_login_page_as_it_is(client, owner):
    response = client.get("/jobs/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/jobs/"
    assert "HX-Redirect" not in response


def test_it_sends_a_logged_out_tabs_htmx_post_to_the_login_page(strict, owner):
    p = make_pipeline(owner)
    response = strict.post(f"/jobs/{p.id}/favorite", **HX)
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/login/?next=/jobs/")
    assert not Pipeline.objects.get(pk=p.pk).is_favorite


def test_it_tells_a_logged_in_tab_with_an_old_token_to_reload(strict, owner):
    p = make_pipeline(owner)
    strict.force_login(owner)
    response = strict.post(f"/jobs/{p.id}/favorite", **HX)
    assert response.status_code == 403 and response["HX-Reswap"] == "none"
    assert 'id="toast"' in response.content.decode() and "This page is out of date" in response.content.decode()
    assert not Pipeline.objects.get(pk=p.pk).is_favorite


@pytest.mark.parametrize("logged_in, title", [(True, "Page out of date"), (False, "Logged out")])
def test_it_answers_a_plain_forms_failed_csrf_check_with_a_page_that_says_why(strict, owner, logged_in, title):
    if logged_in:
        strict.force_login(owner)
    response = strict.post("/settings/webhooks", {"url": "https://example.com/<b>"})
    html = response.content.decode()
    assert response.status_code == 403 and f"<h1>{title}</h1>" in html
    assert "nothing was sent" in html and "<style" not in html and 'href="/jobs/"' in html
