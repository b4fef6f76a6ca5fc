import re

from conftest import first_page_queries, make_pipeline


def test_it_reports_server_time_and_queries(owner_client, owner):
    make_pipeline(owner)
    header = owner_client.get("/api/pipelines")["Server-Timing"]
    match = re.fullmatch(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) queries"', header)
    assert match and int(match.group(3)) == first_page_queries()


def test_it_can_be_turned_off(settings, client):
    settings.SERVER_TIMING = False
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE]  # rebuild the handler with the flag read
    assert "Server-Timing" not in client.get("/login/")
