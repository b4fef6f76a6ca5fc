"""The request's user from the cache (i2v/lib/auth.py): no query on a hit, and never a user Django would refuse."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import Client

from conftest import make_pipeline
from i2v.lib import auth
from i2v.models import ApiToken, token_hash

LIST = "/api/pipelines"
ROOT = Path(__file__).resolve().parents[2]


def test_it_serves_a_cached_list_to_a_session_with_no_query(owner_client, owner, django_assert_num_queries):
    make_pipeline(owner)
    owner_client.get(LIST)
    with django_assert_num_queries(0):
        assert owner_client.get(LIST).status_code == 200


def test_it_serves_a_cached_list_to_a_token_with_no_query(client, owner, django_assert_num_queries, django_capture_on_commit_callbacks):
    make_pipeline(owner)
    with django_capture_on_commit_callbacks(execute=True):
        raw = ApiToken.issue(owner)
        assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    with django_assert_num_queries(0):
        assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


@pytest.fixture
def cache_reads(monkeypatch):
    """The cache's reads, in order: one round trip each (the session's, the user's, the list's).
    The local-memory cache's get_many() calls its get(): only the outer call is a round trip."""
    backend, reads, inside = caches["default"], [], []

    def counted(read, name):
        def wrapped(*args, **kwargs):
            if not inside:
                reads.append(name)
            inside.append(name)
            try:
                return read(*args, **kwargs)
            finally:
                inside.pop()

        return wrapped

    for name in ("get", "get_many"):
        monkeypatch.setattr(backend, name, counted(getattr(backend, name), name))
    return reads


@pytest.mark.parametrize("path", [LIST, "/api/library/images", "/jobs/", "/library/"])
def test_it_reads_a_cached_list_with_its_token_user_in_one_round_trip(client, owner, path, cache_reads, django_capture_on_commit_callbacks):
    make_pipeline(owner)
    with django_capture_on_commit_callbacks(execute=True):
        raw = ApiToken.issue(owner)
    first = client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HX_REQUEST="true")
    cache_reads.clear()
    again = client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HX_REQUEST="true")
    assert again.status_code == 200 and again.content == first.content
    assert cache_reads == ["get_many"]


@pytest.mark.parametrize("path", [LIST, "/api/library/images", "/jobs/", "/library/"])
def test_it_reads_a_cached_list_with_its_session_and_its_user_in_one_round_trip(owner_client, owner, path, cache_reads):
    make_pipeline(owner)
    first = owner_client.get(path, HTTP_HX_REQUEST="true")
    cache_reads.clear()
    again = owner_client.get(path, HTTP_HX_REQUEST="true")
    assert again.status_code == 200 and again.content == first.content
    assert cache_reads == ["get_many"]  # the session's data, its user and the list


def test_it_reads_a_session_this_process_has_not_seen_before_its_user_and_list(owner_client, owner, cache_reads):
    make_pipeline(owner)
    first = owner_client.get(LIST)
    auth._owners.clear()  # as a worker that never served this session
    cache_reads.clear()
    again = owner_client.get(LIST)
    assert again.content == first.content
    assert cache_reads == ["get", "get_many"]  # the session, then its user with the list


def _session_credential(client):
    return ("session", hash(client.cookies["sessionid"].value))


def test_it_never_serves_the_list_of_the_owner_a_session_was_wrongly_taken_for(owner_client, owner, other):
    make_pipeline(owner, name="alice's own")
    make_pipeline(other, name="bob's own")
    bobs = Client()
    bobs.force_login(other)
    assert [item["name"] for item in bobs.get(LIST).json()["items"]] == ["bob's own"]  # cached for bob
    auth._owners[_session_credential(owner_client)] = other.pk  # a wrong guess: bob's user and list are read ahead
    assert [item["name"] for item in owner_client.get(LIST).json()["items"]] == ["alice's own"]
    assert owner_client.get(LIST).json()["items"][0]["name"] == "alice's own"  # and the guess is mended


def test_it_loads_a_remembered_session_the_cache_no_longer_holds(owner_client, owner):
    make_pipeline(owner, name="alice's own")
    assert owner_client.get(LIST).status_code == 200  # its owner is remembered, its list cached
    caches["default"].delete(owner_client.session.cache_key)  # evicted: the database still has it
    assert [item["name"] for item in owner_client.get(LIST).json()["items"]] == ["alice's own"]


def test_it_refuses_a_remembered_session_deleted_since(owner_client, owner):
    make_pipeline(owner)
    assert owner_client.get(LIST).status_code == 200  # its owner is remembered, its user and list cached
    owner_client.session.delete()  # from the cache and the database, as a logout elsewhere does
    response = owner_client.get(LIST)
    assert response.status_code == 401 and "items" not in response.json()


def test_it_never_serves_the_list_of_the_owner_a_token_was_wrongly_taken_for(client, owner, other, django_capture_on_commit_callbacks):
    make_pipeline(owner, name="alice's own")
    make_pipeline(other, name="bob's own")
    with django_capture_on_commit_callbacks(execute=True):
        raw, others = ApiToken.issue(owner), ApiToken.issue(other)
    assert "bob's own" in client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {others}").json()["items"][0]["name"]  # cached for bob
    auth._owners["token", token_hash(raw)] = other.pk  # a wrong guess: bob's list is read ahead
    names = [item["name"] for item in client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").json()["items"]]
    assert names == ["alice's own"]


def test_it_refuses_a_replaced_token_whose_list_was_read_ahead(client, owner, django_capture_on_commit_callbacks):
    make_pipeline(owner)
    with django_capture_on_commit_callbacks(execute=True):
        old = ApiToken.issue(owner)
        assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 200  # the list is cached
        ApiToken.issue(owner)
    response = client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {old}")
    assert response.status_code == 401 and "items" not in response.json()


def test_it_logs_out_other_sessions_when_the_password_changes(owner_client, owner):
    assert owner_client.get(LIST).status_code == 200  # its user is cached now
    owner.set_password("a-new-password-2")
    owner.save()
    assert owner_client.get(LIST).status_code == 401


def test_it_logs_out_a_session_whose_hash_does_not_match_the_cached_user(owner_client, owner):
    owner_client.get(LIST)
    session = owner_client.session
    session["_auth_user_hash"] = "0" * 64
    session.save()
    assert owner_client.get(LIST).status_code == 401


def test_it_refuses_a_user_deactivated_since_it_was_cached(owner_client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        raw = ApiToken.issue(owner)
    token_client = Client()
    assert token_client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert owner_client.get(LIST).status_code == 200
    owner.is_active = False
    owner.save()
    assert owner_client.get(LIST).status_code == 401
    assert token_client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_it_refuses_a_replaced_token_at_once_even_when_cached(client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        old = ApiToken.issue(owner)
        assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 200
        new = ApiToken.issue(owner)
    assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200


def test_it_refuses_the_token_of_a_deleted_user(client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        raw = ApiToken.issue(owner)
        assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
        owner.delete()
    assert client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_it_still_works_without_a_cache(owner_client, owner, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert owner_client.get(LIST).status_code == 200


def test_it_shares_the_embedded_default_cache_between_processes(tmp_path):
    # `make run` (no Redis) serves from two web processes beside the workers: a token replaced through one,
    # forgotten in the cache, must not live on in another's memory.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="i2v.settings")

    def in_another_process(statement):
        code = f"import django; django.setup(); from django.core.cache import cache; {statement}"
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    in_another_process("cache.set('auth:token:abc', 'alice')")
    assert in_another_process("print(cache.get('auth:token:abc'))") == "alice"
    in_another_process("cache.delete('auth:token:abc')")
    assert in_another_process("print(cache.get('auth:token:abc'))") == "None"
