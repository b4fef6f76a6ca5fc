"""The login page, throttled by django-axes: wrong passwords lock a username out
from one address for a while, with a page that says so."""

import pytest

from axes.models import AccessAttempt


@pytest.fixture(autouse=True)
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def login(client, password, username="alice", **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_it_logs_in_with_the_right_password(client, owner):
    response = login(client, "alice-password-1")
    assert response.status_code == 302 and response["Location"] == "/jobs/"


def test_it_locks_a_username_out_after_repeated_wrong_passwords(client, owner):
    assert [login(client, f"wrong-{n}").status_code for n in range(2)] == [200, 200]
    locked = login(client, "wrong-3")
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "<h1>Too many failed logins</h1>" in html and "“alice”" in html
    # Even the right password is refused until the cool-off ends.
    again = login(client, "alice-password-1")
    assert again.status_code == 429 and "_auth_user_id" not in client.session


def test_it_does_not_lock_out_other_users(client, owner, other):
    for n in range(3):
        login(client, f"wrong-{n}")
    assert login(client, "bob-password-1", username="bob").status_code == 302


def test_it_does_not_lock_out_the_same_user_from_another_address(client, owner):
    for n in range(3):
        login(client, f"wrong-{n}")
    assert login(client, "alice-password-1", REMOTE_ADDR="198.51.100.7").status_code == 302


def test_it_forgets_failures_after_a_success(client, owner):
    for n in range(2):
        login(client, f"wrong-{n}")
    assert login(client, "alice-password-1").status_code == 302
    client.logout()
    for n in range(2):
        assert login(client, f"wrong-again-{n}").status_code == 200
    assert AccessAttempt.objects.get().failures_since_start == 2


def test_it_refuses_a_username_longer_than_any_without_looking_it_up(client, owner):
    response = login(client, "nope", username="9" * 5_000)
    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters (it has 5000)." in response.content.decode()
    assert not AccessAttempt.objects.exists()  # nothing recorded: its column holds 255 characters


def test_it_shows_what_is_wrong_with_each_field(client, owner):
    html = login(client, "", username="a\x00b").content.decode()
    assert "Null characters are not allowed." in html and "This field is required." in html
