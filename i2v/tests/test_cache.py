import json
from unittest import mock

from django.core.cache import caches
from django.test import override_settings

from conftest import make_pipeline
from i2v.lib.cache import ListEntry, bump_owner_version, owner_version
from jobs.forms import JobsFilterForm

def cached_list(scope, owner_id, parts, build):
    return ListEntry(scope, owner_id, parts).through(build)


DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_it_rebuilds_after_a_version_bump():
    calls = []

    def build():
        calls.append(1)
        return f"v{len(calls)}"

    assert cached_list("jobs", 7, {"a": 1}, build) == "v1"
    assert cached_list("jobs", 7, {"a": 1}, build) == "v1"
    assert cached_list("jobs", 8, {"a": 1}, build) == "v2"  # another owner never shares
    bump_owner_version("jobs", 7)
    assert cached_list("jobs", 7, {"a": 1}, build) == "v3"


def test_it_never_reuses_a_version_after_eviction():
    first = owner_version("jobs", 9)
    caches["default"].delete("ver:jobs:9")
    assert owner_version("jobs", 9) != first


def test_it_can_be_turned_off(settings):
    settings.LIST_CACHE = False
    calls = []
    cached_list("jobs", 1, {}, lambda: calls.append(1))
    cached_list("jobs", 1, {}, lambda: calls.append(1))
    assert len(calls) == 2


def test_it_keeps_serving_pages_when_redis_is_down(client, owner):
    make_pipeline(owner, name="Still here")
    with override_settings(CACHES=DEAD_REDIS, SESSION_ENGINE="django.contrib.sessions.backends.db"):
        assert type(caches["default"]).__name__ == "RedisCache"
        assert caches["default"].get("anything") is None  # the outage is real and swallowed
        client.force_login(owner)
        page = client.get("/jobs/")
        api = client.get("/api/pipelines")
        again = client.get("/jobs/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and b"Still here" in page.content
    assert api.status_code == 200 and json.loads(api.content)["items"][0]["name"] == "Still here"
    assert again.status_code == 200 and b"Still here" in again.content


def test_it_survives_redis_going_down_under_cached_sessions(client, owner):
    make_pipeline(owner, name="Still here")
    client.force_login(owner)  # session written to the database and the (working) cache
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/jobs/")
    assert response.status_code == 200 and b"Still here" in response.content


def test_it_never_serves_a_list_cached_by_another_deploy(settings):
    calls = []

    def build():
        calls.append(1)
        return f"v{len(calls)}"

    settings.RELEASE = "deploy-1"
    assert cached_list("jobs", 7, {"a": 1}, build) == "v1"
    assert cached_list("jobs", 7, {"a": 1}, build) == "v1"
    settings.RELEASE = "deploy-2"
    assert cached_list("jobs", 7, {"a": 1}, build) == "v2"


def test_it_reads_once_and_writes_once_on_a_miss():
    calls = []
    store = caches["default"]
    with mock.patch.object(store, "get_many", wraps=store.get_many) as reads, mock.patch.object(store, "set", wraps=store.set) as writes:
        entry = ListEntry("jobs", 11, {"a": 1})
        assert entry.cached() is None
        version = entry.version
        assert entry.through(lambda: calls.append(1) or "built") == "built"
    assert calls == [1]
    # (A file cache's add() of the version is a set() of its own key: only the list's entries are counted.)
    assert reads.call_count == 1 and [c.args[0] for c in writes.call_args_list if c.args[0].startswith("list:")] == [entry.key]
    assert caches["default"].get(entry.key) == (version, "built")  # stored for the version read first
    assert ListEntry("jobs", 11, {"a": 1}).cached() == "built"


def test_it_stores_a_build_under_the_version_read_before_it():
    entry = ListEntry("jobs", 12, {"a": 1})
    assert entry.cached() is None
    bump_owner_version("jobs", 12)  # a write lands while the list is being built
    entry.through(lambda: "old rows")
    assert ListEntry("jobs", 12, {"a": 1}).cached() is None  # the next reader rebuilds


def test_it_keys_a_list_by_the_form_s_own_parameters_only(rf, owner):
    def key(url):
        request = rf.get(url)
        request.user = owner
        return ListEntry.for_request(request, JobsFilterForm, "jobs", "v").key

    plain, reordered = key("/jobs/?q=cat&status=failed"), key("/jobs/?status=failed&q=cat")
    junk, other = key("/jobs/?status=failed&utm_source=x&q=cat&_=1733"), key("/jobs/?status=failed&q=dog")
    assert plain == reordered == junk != other
