"""The settings generation followed over Redis pub/sub: changes arrive without a read per request."""

import time

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from settings_admin import generation
from tests.servers import require_redis

REDIS_URL = "redis://127.0.0.1:6379/13"
pytestmark = pytest.mark.usefixtures("redis_cache")


@pytest.fixture
def redis_cache():
    require_redis(REDIS_URL)
    with override_settings(CACHES={"default": {"BACKEND": "config.cache.ReusingRedisCache", "LOCATION": REDIS_URL}}):
        cache.clear()
        generation.generation_forget()
        yield
        generation.generation_forget()
        cache.clear()


def stored():
    """The generation as stored in Redis."""
    return int(cache._cache.get_client().get(cache.make_key(generation.KEY)))


def store(value):
    """Set the stored generation behind the feed's back (no message published)."""
    cache._cache.get_client(write=True).set(cache.make_key(generation.KEY), value)


def eventually(condition, seconds=2.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.005)


def test_a_bump_published_elsewhere_arrives_without_reading_redis():
    first = generation.generation_current()
    assert generation._feed()._socket_readable() is False  # the cheap check works: nothing to parse
    # Another process's bump: here only the message, so a value read from Redis would still be `first`.
    redis.Redis.from_url(REDIS_URL).publish(generation.CHANNEL, first + 5)
    eventually(lambda: generation.generation_current() == first + 5)
    assert stored() == first


def test_the_stored_number_is_read_again_every_verify_interval(monkeypatch):
    first = generation.generation_current()
    store(first + 100)  # changed without a message: a lost one
    assert generation.generation_current() == first
    monkeypatch.setattr(generation, "VERIFY_SECONDS", 0.0)
    assert generation.generation_current() == first + 100


def test_this_process_sees_its_own_bump_at_once():
    first = generation.generation_current()
    bumped = generation.generation_bump()
    assert bumped == first + 1 == stored()
    assert generation.generation_current() == bumped


def test_a_bump_with_no_stored_generation_starts_from_the_clock():
    before = time.time_ns()
    assert generation.generation_bump() >= before


def test_a_broken_subscription_falls_back_to_reading_redis_and_comes_back(monkeypatch, caplog):
    first = generation.generation_current()
    feed = generation._feed()
    redis.Redis.from_url(REDIS_URL).client_kill_filter(_type="pubsub")
    store(first + 7)
    assert generation.generation_current() == first + 7  # read, since the subscription failed
    assert feed.pubsub is None
    assert "following Redis failed" in caplog.text
    store(first + 8)
    assert generation.generation_current() == first + 8  # still read per request until the retry time
    monkeypatch.setattr(generation, "RETRY_SECONDS", 0.0)
    feed.retry_at = 0.0
    assert generation.generation_current() == first + 8
    assert feed.pubsub is not None
    redis.Redis.from_url(REDIS_URL).publish(generation.CHANNEL, first + 9)
    eventually(lambda: generation.generation_current() == first + 9)


def test_without_redis_the_number_is_read_from_the_cache_each_time():
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        first = generation.generation_current()
        cache.set(generation.KEY, first + 3, timeout=None)
        assert generation.generation_current() == first + 3
        assert generation._feed() is None
