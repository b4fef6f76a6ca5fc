"""MethodNotAllowedPage (i2v/lib/methods.py): a 405 a person meets is a page with the navigation, not a
blank one; scripts keep their JSON (or bare) answers."""

import json

from conftest import make_pipeline


def test_it_shows_a_page_with_the_navigation_and_leaves_scripts_answers_alone(owner_client, client, owner):
    pipeline = make_pipeline(owner)
    response = owner_client.get(f"/jobs/{pipeline.id}/favorite")  # a button's URL, opened in a tab
    html = response.content.decode()
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert 'data-testid="method-not-allowed"' in html and 'href="/library/"' in html and "Log out" in html

    response = owner_client.delete("/api/pipelines")
    assert response.status_code == 405 and json.loads(response.content)["error"]["code"] == "method_not_allowed"
    response = client.get("/hooks/fal/anything")  # a provider's webhook: a bare 405, as before
    assert response.status_code == 405 and response.content == b""
