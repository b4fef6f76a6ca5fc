import pytest

from conftest import make_pipeline
from jobs.models import Pipeline


@pytest.fixture
def rows(owner):
    return [make_pipeline(owner) for _ in range(3)]


def post(client, action, ids, **extra):
    return client.post("/jobs/bulk", {"action": action, "ids": [p.id for p in ids], **extra}, HTTP_HX_REQUEST="true")


@pytest.mark.parametrize("action, field, value", [("favorite", "is_favorite", True), ("hide", "is_hidden", True)])
def test_it_updates_the_selected_rows_out_of_band(owner_client, rows, action, field, value):
    response = post(owner_client, action, rows[:2])
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('hx-swap-oob=outerHTML>') == 2
    assert "<template>" in html and "2 pipelines." in html
    assert [getattr(p, field) for p in Pipeline.objects.order_by("id")] == [value, value, not value]


@pytest.mark.parametrize("action, page", [("hide", "/jobs/?q=a"), ("unhide", "/jobs/?hidden=only"), ("unfavorite", "/jobs/?favorites=1")])
def test_it_takes_rows_out_of_a_view_they_leave(owner_client, rows, action, page):
    Pipeline.objects.update(is_hidden=action == "unhide", is_favorite=True)
    data = {"action": action, "ids": [p.id for p in rows[:2]]}
    response = owner_client.post("/jobs/bulk", data, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}")
    html = response.content.decode()
    assert response["HX-Trigger"] == '{"totalChanged": {"by": -2, "noun": "pipeline"}}'  # app.js lowers the total
    assert all(f'<tbody id="job-{p.id}" hx-swap-oob="delete">' in html for p in rows[:2])
    assert "hx-swap-oob=outerHTML>" not in html and "2 pipelines." in html
    changed = {"hide": {"is_hidden": True}, "unhide": {"is_hidden": False}, "unfavorite": {"is_favorite": False}}[action]
    assert Pipeline.objects.filter(**changed).count() == 2


def test_it_unfavourites_and_unhides(owner_client, rows):
    Pipeline.objects.update(is_favorite=True, is_hidden=True)
    post(owner_client, "unfavorite", rows)
    post(owner_client, "unhide", rows)
    assert not Pipeline.objects.filter(is_favorite=True).exists()
    assert not Pipeline.objects.filter(is_hidden=True).exists()


def test_it_tags_the_selected_rows_once(owner_client, rows):
    post(owner_client, "tag", rows[:2], tag="batch-a")
    post(owner_client, "tag", rows[:2], tag="batch-a")
    assert [p.tags.count() for p in rows] == [1, 1, 0]


def test_it_tags_only_the_rows_with_room_for_another_tag(owner_client, owner, rows):
    full = make_pipeline(owner, tags=[f"t{i}" for i in range(20)])
    tagged = make_pipeline(owner, tags=[f"t{i}" for i in range(19)] + ["batch-a"])
    response = post(owner_client, "tag", [rows[0], full, tagged], tag="batch-a")
    assert response.status_code == 200
    assert "Tagged 2 pipelines with “batch-a” (1 left as it was: 20 tags already)." in response.content.decode()
    assert [p.tags.filter(name="batch-a").exists() for p in (rows[0], full, tagged)] == [True, False, True]
    assert full.tags.count() == 20


def test_it_deletes_the_selected_rows(owner_client, rows):
    response = post(owner_client, "delete", rows[1:])
    html = response.content.decode()
    assert response["HX-Trigger"] == '{"totalChanged": {"by": -2, "noun": "pipeline"}}'  # app.js lowers the total
    assert f'<tbody id="job-{rows[1].id}" hx-swap-oob="delete">' in html
    assert list(Pipeline.objects.values_list("id", flat=True)) == [rows[0].id]


def test_it_invalidates_the_cached_list(owner_client, rows, django_capture_on_commit_callbacks):
    assert owner_client.get("/jobs/?favorites=1", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 0
    with django_capture_on_commit_callbacks(execute=True):
        post(owner_client, "favorite", rows)
    assert owner_client.get("/jobs/?favorites=1", HTTP_HX_REQUEST="true").content.count(b'id=row-') == 3


def test_it_ignores_other_users_ids(owner_client, other, rows):
    theirs = make_pipeline(other)
    post(owner_client, "delete", [theirs])
    assert Pipeline.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "explode", "ids": [1]}, "Select a valid choice"),
        ({"action": "delete"}, "Select some pipelines first."),
        ({"action": "delete", "ids": ["x"]}, "Select a valid choice"),
        ({"action": "tag", "ids": [1]}, "Type the tag to add."),
        ({"action": "tag", "ids": [1], "tag": "Bad Tag!"}, "lowercase letters"),
        ({"action": "hide", "ids": list(range(1001))}, "at most 1000"),
    ],
)
def test_it_explains_bad_requests(owner_client, rows, data, message):
    response = owner_client.post("/jobs/bulk", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Pipeline.objects.count() == 3


def test_it_ignores_ids_no_row_can_have(owner_client, rows):
    # Past a bigint, or negative: SQLite can't even bind them; they simply match nothing.
    response = owner_client.post(
        "/jobs/bulk", {"action": "hide", "ids": [2**64, -(2**63) - 1, rows[0].id]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Hid 1 pipeline." in response.content.decode()


def test_it_takes_ids_in_ascii_digits_only(owner_client, rows):
    # int() reads "٣" as 3; a 5,000-digit number is ignored as any other no row can have (int() refused it).
    for junk in ("٣", "1e3", "x"):
        response = owner_client.post("/jobs/bulk", {"action": "hide", "ids": [junk]}, HTTP_HX_REQUEST="true")
        assert response.status_code == 422, junk
    response = owner_client.post("/jobs/bulk", {"action": "hide", "ids": ["9" * 5000, rows[0].id]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Hid 1 pipeline." in response.content.decode()
    assert list(Pipeline.objects.filter(is_hidden=True)) == [rows[0]]
