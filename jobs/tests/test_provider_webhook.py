"""POST /hooks/<provider>/<token> with what no request of ours can be: a JSON 404, no query, never a 500.

(The signed, forged and replayed webhooks of each provider are in test_provider_contract.py.)
"""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/hooks/fal/%00", "/hooks/fal/a%00b", "/hooks/%00/x", "/hooks/fal/" + "x" * 5000, "/hooks/fal/é", "/hooks/FAL/x"],
)
def test_it_answers_a_path_no_request_can_have_with_a_json_404_and_no_query(client, path, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.post(path, b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_it_looks_up_a_well_formed_token_it_does_not_know(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.post("/hooks/replicate/not-a-token", b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such request.", "field": None}}
