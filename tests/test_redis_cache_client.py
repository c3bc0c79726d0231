"""The shared cache's incr (config/cache.py): one atomic step in Redis, by a client of its own."""

import socket
import threading
import time

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from tests.parts import RedisServer


@pytest.fixture(scope="module")
def redis_url():
    server = RedisServer().start()
    yield server.url
    server.stop()


def shared_cache(url, **options):
    return override_settings(
        CACHES={"default": {"BACKEND": "config.cache.DegradingRedisCache", "LOCATION": url, "OPTIONS": options}}
    )


def test_incr_is_one_atomic_step_that_refuses_a_missing_key(redis_url):
    with shared_cache(redis_url):
        cache = caches["default"]
        with pytest.raises(ValueError):
            cache.incr("counter")
        assert cache.get("counter") is None  # nothing was created
        cache.set("counter", 1, timeout=60)
        assert cache.incr("counter", 5) == 6
        assert cache.get("counter") == 6  # Django's own get reads what the script wrote
        raw = redis.Redis.from_url(redis_url)
        assert 0 < raw.ttl(cache.make_key("counter")) <= 60  # the expiry survives
        assert cache.add("counter", 1, 60, version=2)  # a version is a key of its own, as in Django's
        assert cache.incr("counter", 2, version=2) == 3
        assert cache.get("counter") == 6


def test_incr_keeps_every_digit_of_a_large_counter(redis_url):
    with shared_cache(redis_url):
        cache = caches["default"]
        cache.set("large", 1795511283237625300, timeout=60)
        assert cache.incr("large") == 1795511283237625301


def test_every_thread_counts_through_one_client_per_process(redis_url):
    with shared_cache(redis_url, socket_timeout=2):
        seen = []

        def count():
            cache = caches["default"]  # Django gives each thread a cache object of its own
            cache.add("shared-counter", 0, 60)
            for _ in range(50):
                cache.incr("shared-counter")
            seen.append((cache, cache.counter))

        threads = [threading.Thread(target=count) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len({id(cache) for cache, _ in seen}) == 4
        assert len({id(counter) for _, counter in seen}) == 1
        assert caches["default"].get("shared-counter") == 200  # no increment lost
        assert seen[0][1].client.get_connection_kwargs()["socket_timeout"] == 2  # OPTIONS reach it


def test_an_incr_on_a_hung_redis_ends_within_the_socket_timeout_and_counts_in_memory():
    hung = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
    try:
        with shared_cache(url, socket_connect_timeout=0.5, socket_timeout=0.5):
            cache = caches["default"]
            started = time.monotonic()
            with pytest.raises(ValueError):
                cache.incr("hung-counter")  # Redis fails: memory has no such key
            assert time.monotonic() - started < 3
            assert cache.health.down_since is not None
            assert cache.add("hung-counter", 1, 60)
            assert cache.incr("hung-counter") == 2
    finally:
        hung.close()
