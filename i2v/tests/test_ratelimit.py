import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from i2v.lib.ratelimit import RateLimited, check

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture(autouse=True)
def rates(settings):
    settings.RATE_LIMITS_ENABLED = True
    settings.RATE_LIMITS = {"pipelines": "3/60"}


def test_it_allows_the_count_then_refuses_with_the_wait(settings):
    for _ in range(3):
        check("pipelines", 1, now=1000.0)
    with pytest.raises(RateLimited) as refused:
        check("pipelines", 1, now=1010.5)
    # The window is [960, 1020): the next one opens in 9.5 s, rounded up.
    assert refused.value.retry_after == 10
    assert "please wait 10 seconds" in refused.value.message


def test_it_counts_each_user_apart():
    for _ in range(3):
        check("pipelines", 1, now=1000.0)
    check("pipelines", 2, now=1000.0)  # another user is not held back by the first


def test_it_starts_afresh_in_the_next_window():
    for _ in range(3):
        check("pipelines", 1, now=1000.0)
    check("pipelines", 1, now=1020.0)


def test_it_counts_a_cost_of_several_at_once():
    check("pipelines", 1, cost=3, now=1000.0)
    with pytest.raises(RateLimited):
        check("pipelines", 1, now=1000.0)


def test_it_fails_open_when_the_cache_is_down(settings):
    settings.CACHES = DEAD_REDIS
    try:
        del caches["default"]
    except (AttributeError, KeyError):
        pass
    for _ in range(10):
        check("pipelines", 1, now=1000.0)


def test_it_can_be_turned_off(settings):
    settings.RATE_LIMITS_ENABLED = False
    for _ in range(10):
        check("pipelines", 1, now=1000.0)


@pytest.mark.parametrize("rate", ["30", "x/60", "0/60", "30/0"])
def test_it_refuses_a_bad_rate_loudly(settings, rate):
    settings.RATE_LIMITS = {"pipelines": rate}
    with pytest.raises(ImproperlyConfigured):
        check("pipelines", 1)


def test_it_refuses_an_unknown_limit():
    with pytest.raises(ImproperlyConfigured):
        check("nope", 1)
