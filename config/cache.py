"""Django's Redis cache that degrades to local memory when Redis fails, with a one-trip incr.

When Redis fails, the cache serves from the process's local memory for a while (DegradingRedisCache):
a Redis outage fails no request (a hung one delays a request by at most the socket timeout).

Django's incr asks EXISTS, then INCRBY: two round trips, and a key expiring between them comes
back as a fresh counter without its expiry. Rate limits call incr on every session; here it is
one atomic script, run by a redis-py client of this module's own (one per process and server,
thread-safe) on the server Django writes to (LOCATION's first).
"""

import logging
import re
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 5.0
# Rate-limit counters and cached values of one process during an outage (LocMemCache's default is 300).
FALLBACK_MAX_ENTRIES = 50_000
# OPTIONS keys that configure Django's client rather than the connection (the rest go to redis-py).
DJANGO_CLIENT_OPTIONS = ("serializer", "pool_class", "parser_class")

# Only an existing key is incremented (Django's incr contract: a missing key is a ValueError). The
# new value is read back with GET: Lua holds numbers as doubles, which would round a large counter.
INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBY', KEYS[1], ARGV[1])
    return redis.call('GET', KEYS[1])
end
return false
"""


class Counter:
    """The atomic incr on one Redis server: a client and its registered script, shared by every thread."""

    def __init__(self, url, connection_options):
        self.client = redis.Redis.from_url(url, **connection_options)
        self.script = self.client.register_script(INCR_EXISTING)

    def incr(self, key, delta):
        value = self.script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)


_counters = {}
_counters_lock = threading.Lock()


def redis_counter(url, connection_options):
    # Django builds a cache object per thread; one client per process and server serves them all.
    key = (url, repr(sorted(connection_options.items())))  # repr: an option value may be unhashable
    with _counters_lock:
        if key not in _counters:
            _counters[key] = Counter(url, connection_options)
        return _counters[key]


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


class DegradingRedisCache(RedisCache):
    """Django's Redis cache that degrades by itself: on a redis.RedisError it serves from a per-process
    local-memory cache for RETRY_SECONDS (a key of the CACHES entry; default 5), then tries Redis again."""

    def __init__(self, server, params):
        super().__init__(server, params)
        servers = re.split("[;,]", server) if isinstance(server, str) else list(server)  # as Django splits it
        location = ",".join(servers)
        options = params.get("OPTIONS", {})
        connection_options = {key: value for key, value in options.items() if key not in DJANGO_CLIENT_OPTIONS}
        self.counter = redis_counter(servers[0], connection_options)  # Django writes to the first server
        self.retry_seconds = float(params.get("RETRY_SECONDS", DEFAULT_RETRY_SECONDS))
        self.health = redis_health(location)
        # LocMemCache instances of one name share their storage: every thread's instance sees the same values.
        fallback_params = {key: value for key, value in params.items() if key != "RETRY_SECONDS"}
        fallback_params["OPTIONS"] = {"MAX_ENTRIES": FALLBACK_MAX_ENTRIES}
        self.fallback = LocMemCache(f"redis-fallback:{location}", fallback_params)

    def either(self, in_redis, name, *args):
        """`in_redis(*args)`, or the fallback's method `name` with the same arguments while Redis is down."""
        if self.health.should_try(self.retry_seconds):
            try:
                result = in_redis(*args)
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
        return getattr(self.fallback, name)(*args)

    def incr_in_redis(self, key, delta, version):
        return self.counter.incr(self.make_and_validate_key(key, version=version), delta)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self.either(super().add, "add", key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self.either(super().get, "get", key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self.either(super().set, "set", key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self.either(super().touch, "touch", key, timeout, version)

    def delete(self, key, version=None):
        return self.either(super().delete, "delete", key, version)

    def get_many(self, keys, version=None):
        return self.either(super().get_many, "get_many", keys, version)

    def has_key(self, key, version=None):
        return self.either(super().has_key, "has_key", key, version)

    def incr(self, key, delta=1, version=None):
        return self.either(self.incr_in_redis, "incr", key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self.either(super().set_many, "set_many", data, timeout, version)

    def delete_many(self, keys, version=None):
        return self.either(super().delete_many, "delete_many", keys, version)

    def clear(self):
        return self.either(super().clear, "clear")
