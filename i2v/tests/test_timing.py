import re

from conftest import first_page_queries, make_pipeline


def test_it_reports_server_time_and_queries_to_staff(owner_client, owner):
    owner.is_staff = True
    owner.save()
    make_pipeline(owner)
    header = owner_client.get("/api/pipelines")["Server-Timing"]
    match = re.fullmatch(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"', header)
    # The save above made the cache forget the session's user: it is loaded once more, then cached.
    assert match and int(match.group(3)) == first_page_queries() + 1


def test_it_tells_nothing_to_users_who_are_not_staff(owner_client, owner):
    make_pipeline(owner)
    assert "Server-Timing" not in owner_client.get("/api/pipelines")
    assert "Server-Timing" not in owner_client.get("/jobs/")


def test_it_tells_nothing_to_anonymous_visitors(client):
    assert "Server-Timing" not in client.get("/login/")


def test_it_reports_to_everyone_under_debug(settings, client):
    settings.DEBUG = True
    assert "Server-Timing" in client.get("/login/")


def test_it_can_be_turned_off(settings, client, owner):
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    settings.SERVER_TIMING = False
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE]  # rebuild the handler with the flag read
    assert "Server-Timing" not in client.get("/api/pipelines")
