"""Django's Redis cache, with one redis.Redis client per connection pool and a one-trip incr.

Django's client builds a new redis.Redis on every call, and redis-py fills a table of some
170 response callbacks each time: about a tenth of a millisecond per cache call on the gateway's
request path. redis.Redis objects are thread-safe, so one per pool serves every thread.

Django's incr asks EXISTS, then INCRBY: two round trips, and a key expiring between them comes
back as a fresh counter without its expiry. Rate limits call incr on every session; here it is
one atomic script.

When Redis fails, the cache serves from the process's local memory for a while (ReusingRedisCache):
a Redis outage fails no request (a hung one delays a request by at most the socket timeout).
"""

import logging
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 5.0
# Rate-limit counters and cached values of one process during an outage (LocMemCache's default is 300).
FALLBACK_MAX_ENTRIES = 50_000

# Only an existing key is incremented (Django's incr contract: a missing key is a ValueError). The
# new value is read back with GET: Lua holds numbers as doubles, which would round a large counter.
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBY', KEYS[1], ARGV[1])
    return redis.call('GET', KEYS[1])
end
return false
"""


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._incr_script = None

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        if self._incr_script is None:
            self._incr_script = client.register_script(INCR_EXISTING)
        value = self._incr_script(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)


class RedisHealth:
    """One process's view of one Redis: up, or down and retried once every retry period.

    While it is down every cache call is served from the process's local memory, so the gateway keeps
    serving from the database; rate limits then count per process. One log line marks the start of an
    outage and one its end, whatever the number of requests in between.
    """

    def __init__(self, location):
        self.location = location
        self.lock = threading.Lock()
        self.down_since = None
        self.retry_at = 0.0

    def should_try(self, retry_seconds):
        if self.down_since is None:
            return True
        with self.lock:
            now = time.monotonic()
            if self.down_since is None or now >= self.retry_at:
                # This caller probes Redis; the others keep to local memory until it has answered.
                self.retry_at = now + retry_seconds
                return True
            return False

    def failed(self, exc, retry_seconds):
        from speech.ops import metrics

        with self.lock:
            now = time.monotonic()
            self.retry_at = now + retry_seconds
            if self.down_since is not None:
                return
            self.down_since = now
        metrics.shared_cache_degraded.set(1)
        metrics.shared_cache_outages_total.inc()
        logger.warning(
            "shared cache: Redis at %s failed (%s: %s); serving from this process's memory (rate limits count "
            "per process) and trying Redis again every %s s",
            self.location, type(exc).__name__, exc, retry_seconds,
        )  # fmt: skip

    def succeeded(self, fallback):
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is None:
                return
            seconds, self.down_since = time.monotonic() - self.down_since, None
        # What was kept meanwhile must not come back in a later outage (an old settings generation, old counters).
        fallback.clear()
        from speech.ops import metrics

        metrics.shared_cache_degraded.set(0)
        logger.warning("shared cache: Redis at %s answers again after %.1f s; serving from it", self.location, seconds)


_health = {}
_health_lock = threading.Lock()


def redis_health(location):
    with _health_lock:
        return _health.setdefault(location, RedisHealth(location))


class ReusingRedisCache(RedisCache):
    """Django's Redis cache that degrades by itself: on a redis.RedisError it serves from a per-process
    local-memory cache for RETRY_SECONDS (a key of the CACHES entry; default 5), then tries Redis again."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
        location = server if isinstance(server, str) else ",".join(server)
        self.retry_seconds = float(params.get("RETRY_SECONDS", DEFAULT_RETRY_SECONDS))
        self.health = redis_health(location)
        # LocMemCache instances of one name share their storage: every thread's instance sees the same values.
        fallback_params = {key: value for key, value in params.items() if key != "RETRY_SECONDS"}
        fallback_params["OPTIONS"] = {"MAX_ENTRIES": FALLBACK_MAX_ENTRIES}
        self.fallback = LocMemCache(f"redis-fallback:{location}", fallback_params)

    def _either(self, name, *args, **kwargs):
        if self.health.should_try(self.retry_seconds):
            try:
                result = getattr(super(), name)(*args, **kwargs)
            except redis.RedisError as exc:
                self.health.failed(exc, self.retry_seconds)
            except Exception:  # Redis answered (incr of a missing key is a ValueError): it is back
                self.health.succeeded(self.fallback)
                raise
            else:
                self.health.succeeded(self.fallback)
                return result
        from speech.ops import metrics

        metrics.shared_cache_fallback_operations_total.inc()
        return getattr(self.fallback, name)(*args, **kwargs)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._either("add", key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._either("get", key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._either("set", key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._either("touch", key, timeout, version)

    def delete(self, key, version=None):
        return self._either("delete", key, version)

    def get_many(self, keys, version=None):
        return self._either("get_many", keys, version)

    def has_key(self, key, version=None):
        return self._either("has_key", key, version)

    def incr(self, key, delta=1, version=None):
        return self._either("incr", key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._either("set_many", data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._either("delete_many", keys, version)

    def clear(self):
        return self._either("clear")
