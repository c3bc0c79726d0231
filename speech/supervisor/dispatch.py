"""How an attached call reaches a supervisor (docs/calls.md, "Dispatch and supervisor processes").

`attach_submit(call_id=...)` runs once a call's provider id is known (speech.calls.services.call_attach, after
the commit). Where the job goes is SPEECH_CALL_DISPATCH:

- "redis" (the default with REDIS_URL): one XADD to a Redis Stream; the `manage.py call_supervisor` processes
  take jobs from it as one consumer group (streams.py).
- "in_process" (the embedded defaults, `make run`): a daemon thread of this process, started on the first
  job, runs one asyncio loop that supervises each call (Dispatcher).

It never raises into the mint: when no supervisor can take the call (Redis down, the process full, a bug) it
returns False, counts `calls_unsupervised_total` and logs one line; the call goes on unsupervised.
A Redis that fails costs one attach at most REDIS_TIMEOUT; later attaches skip it for REDIS_RETRY_SECONDS.
"""

import asyncio
import logging
import threading
import time

import redis
from django.conf import settings
from django.utils.module_loading import import_string

from speech.ops import metrics

logger = logging.getLogger("speech.supervisor")

GROUP = "supervisors"


def attach_submit(*, call_id):
    """Hand the call to a supervisor. True when a supervisor will join it; False (counted, logged) when none can."""
    call_id = str(call_id)
    try:
        if settings.SPEECH_CALL_DISPATCH == "redis":
            stream_producer().submit(call_id=call_id)
            return True
        if in_process_dispatcher().submit(call_id=call_id):
            return True
        return call_unsupervised(call_id=call_id, reason="supervisor_full", detail="the process holds its most calls")
    except RedisUnavailable as exc:
        return call_unsupervised(call_id=call_id, reason="redis_unavailable", detail=str(exc))
    except Exception as exc:  # whatever it is, the mint has succeeded and must not fail now
        logger.exception("attach of call %s failed", call_id)
        return call_unsupervised(call_id=call_id, reason="error", detail=type(exc).__name__)


def call_unsupervised(*, call_id, reason, detail):
    metrics.calls_unsupervised_total.labels(reason).inc()
    logger.warning("call %s is not supervised (%s): %s", call_id, reason, detail)
    return False


# --- Redis: the producer's side ------------------------------------------------------------------------------


class RedisUnavailable(Exception):
    pass


class StreamProducer:
    """XADDs attach jobs to the stream: one client per process (redis-py's pool is thread-safe).

    After a failure it does not try Redis again for `retry_seconds`, so an outage costs one attach the
    timeout and the others nothing."""

    def __init__(self, *, url, stream, maxlen, timeout, retry_seconds):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.retry_seconds = retry_seconds
        self.retry_at = 0.0
        self.group_ready = False

    def submit(self, *, call_id):
        if time.monotonic() < self.retry_at:
            raise RedisUnavailable(f"Redis at {redacted(self.url)} failed less than {self.retry_seconds} s ago")
        try:
            if not self.group_ready:
                # The group exists before the first job, so a supervisor started later still gets it.
                group_ensure(self.client, self.stream)
                self.group_ready = True
            self.client.xadd(self.stream, {"call_id": call_id}, maxlen=self.maxlen, approximate=True)
        except redis.RedisError as exc:
            self.retry_at = time.monotonic() + self.retry_seconds
            raise RedisUnavailable(f"Redis at {redacted(self.url)}: {type(exc).__name__}: {exc}") from exc


def group_ensure(client, stream):
    """Create the consumer group (and the stream) unless it exists; works with redis-py's sync client."""
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def redacted(url):
    """The URL without a password, for log lines."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}"


_producers = {}
_producers_lock = threading.Lock()


def stream_producer():
    key = (settings.REDIS_URL, settings.SPEECH_SUPERVISOR_STREAM)
    with _producers_lock:
        if key not in _producers:
            _producers[key] = StreamProducer(
                url=settings.REDIS_URL,
                stream=settings.SPEECH_SUPERVISOR_STREAM,
                maxlen=settings.SPEECH_SUPERVISOR_STREAM_MAXLEN,
                timeout=settings.REDIS_TIMEOUT,
                retry_seconds=settings.REDIS_RETRY_SECONDS,
            )
        return _producers[key]


# --- In process: the embedded default ------------------------------------------------------------------------


class Dispatcher:
    """Runs `handler(call_id=..., stop=...)` for each submitted call on one asyncio loop in a daemon thread,
    started on the first submit. A call already held is not joined twice; past `max_calls` a submit is refused.

    Nothing outlives the process: calls it held when the process stops go on unsupervised (with Redis, another
    supervisor would re-join them)."""

    def __init__(self, *, handler, max_calls):
        self.handler = handler
        self.max_calls = max_calls
        self.lock = threading.Lock()
        self.calls = set()  # call ids held, guarded by the lock (submit runs in request threads)
        self.loop = None
        self.thread = None
        self.stop = None
        self.tasks = set()  # touched on the loop only

    def submit(self, *, call_id):
        with self.lock:
            if call_id in self.calls:
                return True
            if len(self.calls) >= self.max_calls:
                return False
            if self.thread is None:
                self._start()
            self.calls.add(call_id)
        self.loop.call_soon_threadsafe(self._begin, call_id, time.monotonic())
        return True

    def _start(self):
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()  # bound to the loop at its first wait, on the loop
        self.thread = threading.Thread(target=self.loop.run_forever, name="call-supervisor", daemon=True)
        self.thread.start()

    def _begin(self, call_id, submitted):
        task = self.loop.create_task(self._supervise(call_id, submitted))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _supervise(self, call_id, submitted):
        metrics.supervisor_job_lag_seconds.observe(time.monotonic() - submitted)
        metrics.supervised_calls.inc()
        outcome = "supervised"
        try:
            await self.handler(call_id=call_id, stop=self.stop)
            if self.stop.is_set():
                outcome = "released"
        except Exception:
            outcome = "failed"
            logger.exception("supervision of call %s failed", call_id)
        finally:
            metrics.supervised_calls.dec()
            metrics.supervisor_jobs_total.labels(outcome).inc()
            with self.lock:
                self.calls.discard(call_id)

    def held(self):
        with self.lock:
            return set(self.calls)

    def shutdown(self, *, timeout=10.0):
        """Set `stop` for every call, wait up to `timeout` for their handlers to return, and end the thread."""
        with self.lock:
            if self.thread is None:
                return
            loop, thread = self.loop, self.thread

        async def drain():
            self.stop.set()
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=timeout)

        try:
            asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout + 1)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            with self.lock:
                self.thread = None
                self.calls.clear()
            loop.close()


_dispatchers = {}
_dispatchers_lock = threading.Lock()


def in_process_dispatcher():
    """This process's dispatcher for the configured handler (made on first use)."""
    path = settings.SPEECH_SUPERVISOR_HANDLER
    with _dispatchers_lock:
        if path not in _dispatchers:
            _dispatchers[path] = Dispatcher(handler=import_string(path), max_calls=settings.SPEECH_SUPERVISOR_MAX_CALLS)
        return _dispatchers[path]


def dispatch_reset(*, timeout=10.0):
    """Stop this process's in-process dispatchers (their calls' handlers told to stop) and forget them and the
    stream producers: the next attach makes them afresh from the settings then in force."""
    with _dispatchers_lock:
        dispatchers = list(_dispatchers.values())
        _dispatchers.clear()
    for dispatcher in dispatchers:
        dispatcher.shutdown(timeout=timeout)
    with _producers_lock:
        producers = list(_producers.values())
        _producers.clear()
    for producer in producers:
        producer.client.close()
