"""Changing an endpoint's events in its row: the URL and the secret its receiver checks stay."""

from hooks.models import Endpoint

ALL = ["pipeline.finished", "pipeline.failed", "asset.processed"]


def test_it_changes_the_events_of_the_owners_endpoint_and_keeps_the_secret(owner_client, owner, other):
    endpoint = Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=["pipeline.finished"])
    theirs = Endpoint.objects.create(owner=other, url="https://example.com/hook", events=ALL)
    html = owner_client.get("/settings/webhooks").content.decode()
    assert f'action="/settings/webhooks/{endpoint.id}/events"' in html
    response = owner_client.post(f"/settings/webhooks/{endpoint.id}/events", {"events": ["pipeline.failed", "asset.processed"]})
    assert (response.status_code, response["Location"]) == (302, "/settings/webhooks")
    changed = Endpoint.objects.get(pk=endpoint.pk)
    assert changed.events == ["pipeline.failed", "asset.processed"]
    assert (changed.url, changed.secret, changed.is_active) == (endpoint.url, endpoint.secret, True)
    assert Endpoint.objects.listening(owner.pk, "pipeline.failed") == [changed]
    assert Endpoint.objects.listening(owner.pk, "pipeline.finished") == []
    assert owner_client.post(f"/settings/webhooks/{theirs.id}/events", {"events": ["pipeline.failed"]}).status_code == 404
    assert Endpoint.objects.get(pk=theirs.pk).events == ALL


def test_it_needs_an_event_and_shows_the_error_in_the_row(owner_client, owner):
    endpoint = Endpoint.objects.create(owner=owner, url="https://example.com/hook", events=ALL)
    response = owner_client.post(f"/settings/webhooks/{endpoint.id}/events", {})
    html = response.content.decode()
    assert response.status_code == 422 and Endpoint.objects.get(pk=endpoint.pk).events == ALL
    row = html.split(f'id="endpoint-{endpoint.id}"')[1].split("</tr>")[0]
    assert '<details class="edit-events" open>' in row and "Choose at least one event." in row
    response = owner_client.post(f"/settings/webhooks/{endpoint.id}/events", {"events": ["nope"]})
    assert response.status_code == 422 and Endpoint.objects.get(pk=endpoint.pk).events == ALL

