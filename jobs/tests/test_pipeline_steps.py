import re
from html import unescape

import pytest

from conftest import make_big_pipeline, make_pipeline


@pytest.fixture
def big(owner):
    return make_big_pipeline(owner, images=30, videos=30, failed=3)


def _more(html):
    match = re.search(r'<tr class="more-steps">.*?hx-get="([^"]+)"', html, re.S)
    return unescape(match.group(1)) if match else None


def test_it_loads_every_step_once_by_following_the_more_links(owner_client, big):
    url, seen = f"/jobs/{big.id}/steps?status=", []
    html = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="steps-' in html and "60 × " not in html  # the table again, with its summary
    seen += re.findall(r'<tr data-step="(\d+)"', html)
    while url := _more(html):
        response = owner_client.get(url, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and "steps-box" not in html  # just more rows
        seen += re.findall(r'<tr data-step="(\d+)"', html)
    assert seen == [str(pk) for pk in big.steps.order_by("order", "id").values_list("pk", flat=True)]


def test_it_filters_by_status(owner_client, big):
    html = owner_client.get(f"/jobs/{big.id}/steps?status=failed", HTTP_HX_REQUEST="true").content.decode()
    assert html.count("<tr data-step=") == 3 and "Showing 3 failed of 60 steps" in html


def test_it_is_the_detail_page_at_that_cursor_without_htmx(owner_client, big):
    first = owner_client.get(f"/jobs/{big.id}/steps?status=", HTTP_HX_REQUEST="true").content.decode()
    html = owner_client.get(_more(first)).content.decode()
    assert "<html" in html and html.count("<tr data-step=") == 20
    assert 'data-step="%d"' % big.steps.get(order=20).pk in html


@pytest.mark.parametrize(
    "query, message",
    [
        ("cursor=not-a-cursor", "invalid or was altered"),
        ("status=sleeping", "Select a valid choice"),
    ],
)
def test_it_refuses_bad_parameters_with_a_400(owner_client, big, query, message):
    response = owner_client.get(f"/jobs/{big.id}/steps?{query}", HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and message in response.content.decode()


@pytest.mark.parametrize("htmx", [True, False], ids=["toast", "page"])
def test_it_never_echoes_a_bad_parameter_as_markup(owner_client, big, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = owner_client.get(f"/jobs/{big.id}/steps?status=<b>x</b>", **headers)
    html = response.content.decode()
    assert response.status_code == 400 and "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    # Without JavaScript (the steps' filter links followed) a page that says so, not plain text.
    assert ("<h1>Bad page parameters</h1>" in html) is not htmx and ('id="toast"' in html) is htmx


def test_it_refuses_a_tampered_cursor(owner_client, big):
    first = owner_client.get(f"/jobs/{big.id}/steps?status=", HTTP_HX_REQUEST="true").content.decode()
    url = _more(first)
    tampered = url.replace("cursor=", "cursor=x")
    response = owner_client.get(tampered, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "start again from the first page" in response.content.decode()


def test_it_refuses_an_outputs_cursor(owner_client, owner):
    p = make_pipeline(owner, outputs=55)
    html = owner_client.get(f"/jobs/{p.id}/", HTTP_HX_REQUEST="true").content.decode()
    cursor = re.search(r'outputs\?cursor=([^"&]+)', html).group(1)
    response = owner_client.get(f"/jobs/{p.id}/steps?cursor={cursor}", HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "another list" in response.content.decode()


def test_it_is_a_404_for_someone_elses_pipeline(client, other, big):
    client.force_login(other)
    assert client.get(f"/jobs/{big.id}/steps", HTTP_HX_REQUEST="true").status_code == 404


def test_it_costs_the_same_queries_on_any_page(owner_client, owner, big, django_assert_num_queries):
    first = owner_client.get(f"/jobs/{big.id}/steps?status=", HTTP_HX_REQUEST="true").content.decode()
    with django_assert_num_queries(2):  # pipeline id, one page of steps
        owner_client.get(_more(first), HTTP_HX_REQUEST="true")
    with django_assert_num_queries(3):  # and the summary when the table is redrawn for a filter
        owner_client.get(f"/jobs/{big.id}/steps?status=completed", HTTP_HX_REQUEST="true")
