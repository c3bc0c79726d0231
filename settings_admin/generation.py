"""The settings generation: a number in the shared cache that every change of the settings bumps.

Values derived from the settings are cached in each process under the current generation
(selectors.py), so a process must know the generation on every request. Where the shared cache
is Redis, every bump is also published, and a process follows the bumps on its own subscription:
a request reads whatever has arrived on that socket without waiting (no round trip to Redis).
The number itself is read again every VERIFY_SECONDS and whenever the subscription fails, so a
lost or silently dead connection delays a change by at most that long. Elsewhere (the local-memory
cache of a single development process) the number is read from the cache each time.
"""

import contextlib
import logging
import select
import threading
import time

import redis
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

KEY = "settings_admin:generation"
CHANNEL = "settings_admin:generation"
VERIFY_SECONDS = 1.0
RETRY_SECONDS = 5.0


def _read():
    # Started from the clock, so a flushed or restarted Redis never brings back an old generation.
    return cache.get_or_set(KEY, time.time_ns, timeout=None)


class GenerationFeed:
    """One process's view of the generation, kept current by Redis pub/sub."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.Lock()
        self.pubsub = None
        self._poller = self._polled = None
        self.value = None
        self.verified_at = 0.0
        self.retry_at = 0.0

    def current(self):
        with self.lock:
            now = time.monotonic()
            try:
                if self.pubsub is None:
                    if now < self.retry_at:
                        return _read()
                    self._subscribe()
                elif now - self.verified_at < VERIFY_SECONDS:
                    self._take_published()
                    return self.value
                self.value, self.verified_at = _read(), now
                return self.value
            except redis.RedisError as exc:
                logger.warning("settings generation: following Redis failed (%s); reading it per request", exc)
                self._close()
                self.retry_at = now + RETRY_SECONDS
                return _read()

    def bumped(self, value):
        """This process made the change: it sees it at once, whatever the subscription does."""
        with self.lock:
            if self.value is not None:
                self.value = max(self.value, value)

    def _subscribe(self):
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(CHANNEL)
        # Once Redis confirms, every later bump arrives as a message; earlier ones show in the read after.
        message = self.pubsub.get_message(timeout=2.0)
        if message is None or message["type"] != "subscribe":
            raise redis.TimeoutError("no confirmation of the subscription")

    def _take_published(self):
        if not self._socket_readable():
            return  # nothing arrived: the usual case, answered by one poll() instead of redis-py's parser
        while (message := self.pubsub.get_message(timeout=0)) is not None:
            if message["type"] == "message":
                self.value = max(self.value, int(message["data"]))

    def _socket_readable(self):
        # redis-py's socket (a private name, long stable; without it every check takes the slow path)
        sock = getattr(self.pubsub.connection, "_sock", None)
        if sock is None:
            return True  # get_message reconnects, raises or finds nothing
        if sock is not self._polled:
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
            self._polled = sock
        return bool(self._poller.poll(0))  # also true at EOF, which get_message then reports

    def _close(self):
        if self.pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                self.pubsub.close()
        self.pubsub = self._poller = self._polled = None


_feeds = {}
_feeds_lock = threading.Lock()


def _feed():
    """The feed for the shared cache's Redis, or None when the shared cache is not Redis."""
    shared = caches["default"]
    if not isinstance(shared, RedisCache):
        return None
    client = shared._cache  # Django's RedisCacheClient: its servers name the Redis, and it lends us a client
    servers = tuple(client._servers)
    feed = _feeds.get(servers)
    if feed is None:
        with _feeds_lock:
            feed = _feeds.setdefault(servers, GenerationFeed(client.get_client(write=True)))
    return feed


def generation_forget():
    """Close this process's subscriptions and forget what they said: after the shared cache was
    emptied behind its back (the test suite does so between cases)."""
    with _feeds_lock:
        for feed in _feeds.values():
            with feed.lock:
                feed._close()
        _feeds.clear()


def generation_current():
    feed = _feed()
    return feed.current() if feed is not None else _read()


def generation_bump():
    """A new generation, published to every process following it."""
    try:
        value = cache.incr(KEY)
    except ValueError:  # no generation yet (or Redis was flushed)
        value = time.time_ns()
        cache.set(KEY, value, timeout=None)
    feed = _feed()
    if feed is not None:
        feed.bumped(value)
        try:
            feed.client.publish(CHANNEL, value)
        except redis.RedisError as exc:
            logger.warning("settings generation: could not publish %s (%s); others see it within %ss",
                           value, exc, VERIFY_SECONDS)  # fmt: skip
    return value
