import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.servers import require_redis

REDIS_URL = "redis://127.0.0.1:6379/11"


@override_settings(CACHES={"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}})
def test_one_redis_client_serves_every_call():
    require_redis(REDIS_URL)
    cache = caches["default"]
    cache.set("speech-test-key", 41)
    cache.incr("speech-test-key")
    assert cache.get("speech-test-key") == 42
    assert cache._cache.get_client() is cache._cache.get_client()
    cache.delete("speech-test-key")


@override_settings(CACHES={"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}})
def test_incr_is_one_atomic_step_that_refuses_a_missing_key():
    require_redis(REDIS_URL)
    cache = caches["default"]
    cache.delete("speech-test-counter")
    with pytest.raises(ValueError):
        cache.incr("speech-test-counter")
    assert cache.get("speech-test-counter") is None  # nothing was created
    cache.set("speech-test-counter", 1, timeout=60)
    assert cache.incr("speech-test-counter", 5) == 6
    raw = cache._cache.get_client()
    assert 0 < raw.ttl(cache.make_key("speech-test-counter")) <= 60  # the expiry survives
    cache.delete("speech-test-counter")


@override_settings(CACHES={"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}})
def test_incr_keeps_every_digit_of_a_large_counter():
    require_redis(REDIS_URL)
    cache = caches["default"]
    cache.set("speech-test-large", 1795511283237625300, timeout=60)
    assert cache.incr("speech-test-large") == 1795511283237625301
    cache.delete("speech-test-large")
