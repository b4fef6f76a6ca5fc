"""The request's user from the cache (i2v/lib/auth.py): no query on a hit, and never a user Django would refuse."""

from django.test import Client

from conftest import make_pipeline
from i2v.models import ApiToken

LIST = "/api/pipelines"


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
