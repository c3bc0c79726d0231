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
