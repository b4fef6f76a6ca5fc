"""HEAD wherever a person's page answers GET (uptime monitors and link checkers ask it): the GET's status
and headers, no body. A download's zip answers it too, without making the zip (downloads/tests/test_zip.py)."""

import pytest

from conftest import make_pipeline
from jobs.tests.conftest import make_source


@pytest.mark.parametrize(
    "path",
    ["/jobs/", "/library/", "/prompts/", "/settings/", "/settings/webhooks", "/pipelines/new", "/jobs/{p}/",
     "/jobs/{p}/menu", "/jobs/{p}/rename", "/jobs/{p}/tags", "/assets/{a}/", "/favicon.ico", "/library/delete?ids={a}"],
)  # fmt: skip
def test_it_answers_head_as_get_without_a_body(owner_client, owner, path):
    p, a = make_pipeline(owner), make_source(owner)
    url = path.format(p=p.id, a=a.id)
    got = owner_client.get(url)
    head = owner_client.head(url)
    assert head.status_code == got.status_code and head.status_code in (200, 301)
    assert head.content == b"" and head["Content-Type"] == got["Content-Type"]
    # A view that changes things on POST only: HEAD, like GET, changes nothing (the Library's delete confirms).
    assert owner.assets.filter(pk=a.pk).exists() and owner.pipelines.filter(pk=p.pk).exists()
