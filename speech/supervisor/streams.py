"""A supervisor process's side of the attach stream (`manage.py call_supervisor`).

Every supervisor process is one consumer of the group "supervisors" on the stream (SPEECH_SUPERVISOR_STREAM).
A job is an entry {call_id}; it stays pending, owned by the supervisor that reads it, until that one acks it:

- when the call ends (the handler returns without `stop`), or at once when the call has already ended;
- never on shutdown: a stopping supervisor leaves its calls running and releases its jobs (marks them idle
  for a day), so the next beat of another supervisor claims them and re-joins the calls.

Each beat (SPEECH_SUPERVISOR_HEARTBEAT_SECONDS) a supervisor touches the jobs it still owns (XCLAIM to itself,
JUSTID: their idle time restarts) and claims jobs idle longer than SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS
(XAUTOCLAIM): those of a supervisor that died. Re-joining is safe: transcript lines and usage are written once
per key. A job it finds it no longer owns (its beats stopped reaching Redis long enough for another to claim
it) is stopped here, unacked: the other supervisor has the call now.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from speech.ops import metrics

from .dispatch import GROUP, redacted

logger = logging.getLogger("speech.supervisor")

RELEASED_IDLE_MS = 24 * 3600 * 1000
DRAIN_SECONDS = 25.0  # on shutdown, how long the calls' handlers get to return (their records written)
CONSUMER_FORGET_SECONDS = 600  # a consumer that owns nothing and has not read for this long is removed
READ_BLOCK_MS = 1000

# Touch the given jobs only while this consumer owns them (an XCLAIM with min-idle 0 would take another's). For each
# id: "owned" (touched), "other" (another consumer's now) or "missing" (pending nowhere: done by another, or lost
# with a Redis that restarted empty).
KEEP_OWNED = """
local states = {}
for i = 3, #ARGV do
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if not pending[1] then
        states[#states + 1] = 'missing'
    elseif pending[1][2] == ARGV[2] then
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
        states[#states + 1] = 'owned'
    else
        states[#states + 1] = 'other'
    end
end
return states
"""


def consumer_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def call_open(call_id):
    """Whether the call exists and has not ended (a job for any other is done at once)."""
    from speech.calls.models import Call, CallStatus

    close_old_connections()  # a long-lived process: drop a connection the database closed meanwhile
    return Call.objects.filter(pk=call_id).exclude(status=CallStatus.ENDED).exists()


def call_lost(call_id):
    """The handler failed unexpectedly: end the call as lost rather than retry a fault for ever."""
    from speech.calls.models import EndReason
    from speech.calls.services import call_end

    close_old_connections()
    return call_end(call_id=call_id, reason=EndReason.SUPERVISOR_LOST)


class Job:
    def __init__(self, entry_id, call_id):
        self.entry_id = entry_id
        self.call_id = call_id
        self.stop = asyncio.Event()
        self.task = None
        self.lost = False  # another supervisor owns the job now
        self.orphan = False  # the job is pending nowhere any more


class StreamSupervisor:
    """Takes attach jobs from the stream and runs `handler(call_id=..., stop=...)` for each, at most
    `max_calls` at once; keeps its jobs fresh and claims those of dead supervisors (see the module's text)."""

    def __init__(
        self, *, client, handler, stream, consumer, max_calls, claim_idle_seconds, heartbeat_seconds, on_ready=None
    ):
        self.client = client
        self.handler = handler
        self.stream = stream
        self.consumer = consumer
        self.max_calls = max_calls
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self.heartbeat_seconds = heartbeat_seconds
        self.on_ready = on_ready
        self.keep_owned = client.register_script(KEEP_OWNED)
        self.jobs = {}  # entry id -> Job
        self.calls = {}  # call id -> entry id
        self.stopping = False
        self.redis_down_since = None
        self.forget_at = 0.0
        self.acks = set()  # acks in flight, awaited on shutdown

    async def run(self, stop):
        """Supervise until `stop` is set; then release the jobs still held and return."""
        if not await self._group_ensure(stop):
            return
        if self.on_ready:
            self.on_ready()
        loops = [asyncio.create_task(self._read(stop)), asyncio.create_task(self._beat(stop))]
        try:
            await stop.wait()
        finally:
            self.stopping = True
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()

    # --- reading and claiming ---------------------------------------------------------------------------------

    async def _group_ensure(self, stop):
        while not stop.is_set():
            try:
                await self._group_create()
            except redis.RedisError as exc:
                self._redis_failed(exc)
                await _sleep_or_stop(stop, 1.0)
                continue
            self._redis_answered()
            return True
        return False

    async def _group_create(self):
        try:
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _group_lost(self, exc):
        """Whether `exc` says the group is gone (Redis restarted empty); if so, makes it again."""
        if not isinstance(exc, redis.ResponseError) or "NOGROUP" not in str(exc):
            return False
        logger.warning("call supervisor: the consumer group was gone (Redis restarted empty?); made it again")
        await self._group_create()
        return True

    async def _read(self, stop):
        while not stop.is_set():
            free = self.max_calls - len(self.jobs)
            if free <= 0:
                await asyncio.sleep(0.1)
                continue
            try:
                answer = await self.client.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=min(free, 100), block=READ_BLOCK_MS
                )
            except redis.RedisError as exc:
                if await self._group_lost_safely(exc):
                    continue
                self._redis_failed(exc)
                await _sleep_or_stop(stop, 1.0)
                continue
            self._redis_answered()
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    self._start(entry_id, fields, claimed=False)

    async def _beat(self, stop):
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._keep()
                await self._claim()
                await self._forget_consumers()
            except redis.RedisError as exc:
                if not await self._group_lost_safely(exc):
                    self._redis_failed(exc)
            else:
                self._redis_answered()
            await _sleep_or_stop(stop, max(0.0, self.heartbeat_seconds - (time.monotonic() - started)))

    async def _group_lost_safely(self, exc):
        try:
            return await self._group_lost(exc)
        except redis.RedisError:
            return False

    async def _keep(self):
        held = list(self.jobs)
        if not held:
            return
        states = await self.keep_owned(keys=[self.stream], args=[GROUP, self.consumer, *held])
        for entry_id, state in zip(held, states, strict=True):
            job = self.jobs.get(entry_id)
            if job is None or job.task.done() or state == "owned":
                continue
            if state == "other" and not job.lost:
                # Another supervisor claimed it while our beats did not reach Redis: the call is its own now.
                logger.warning("call %s: job %s was taken over by another supervisor; leaving the call", job.call_id,
                               entry_id)  # fmt: skip
                job.lost = True
                job.stop.set()
            elif state == "missing" and not job.orphan:
                # Done by another supervisor (the call ended: the handler sees it too), or lost with Redis's data:
                # this process keeps the call to its end, but nobody would re-join it should this process die.
                logger.warning("call %s: job %s is no longer in Redis; supervising the call on without it",
                               job.call_id, entry_id)  # fmt: skip
                job.orphan = True

    async def _claim(self):
        start = "0-0"
        for _ in range(10):  # a bounded scan of the pending list per beat
            free = self.max_calls - len(self.jobs)
            if free <= 0:
                return
            answer = await self.client.xautoclaim(
                self.stream, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, start_id=start, count=free
            )
            start, claimed = answer[0], answer[1]
            for entry_id, fields in claimed:
                if entry_id not in self.jobs:
                    metrics.supervisor_claims_total.inc()
                    self._start(entry_id, fields, claimed=True)
            if start in ("0-0", b"0-0"):
                return

    async def _forget_consumers(self):
        # Each process that ever ran leaves a consumer in the group: remove those gone for long and owning nothing.
        if time.monotonic() < self.forget_at:
            return
        self.forget_at = time.monotonic() + 60
        for consumer in await self.client.xinfo_consumers(self.stream, GROUP):
            name = consumer["name"]
            if name != self.consumer and consumer["pending"] == 0 and consumer["idle"] > CONSUMER_FORGET_SECONDS * 1000:
                await self.client.xgroup_delconsumer(self.stream, GROUP, name)

    # --- one job ----------------------------------------------------------------------------------------------

    def _start(self, entry_id, fields, *, claimed):
        call_id = fields.get("call_id", "")
        try:
            call_id = str(uuid.UUID(call_id))
        except ValueError:
            logger.warning("attach job %s names no call (%r); dropped", entry_id, call_id[:80])
            self._spawn(self._ack(entry_id, "invalid"))
            return
        if self.stopping:
            return  # read as the process stops: left pending, released with the rest
        if call_id in self.calls:
            self._spawn(self._ack(entry_id, "duplicate"))  # this process holds the call already
            return
        if not claimed:
            metrics.supervisor_job_lag_seconds.observe(max(0.0, time.time() - int(entry_id.split("-")[0]) / 1000))
        else:
            logger.info("call %s: claimed job %s from a supervisor that stopped or died; re-joining", call_id,
                        entry_id)  # fmt: skip
        job = Job(entry_id, call_id)
        self.jobs[entry_id] = job
        self.calls[call_id] = entry_id
        job.task = asyncio.create_task(self._supervise(job))

    async def _supervise(self, job):
        try:
            outcome = await self._outcome(job)
        finally:
            self.jobs.pop(job.entry_id, None)
            self.calls.pop(job.call_id, None)
        if outcome in ("already_ended", "supervised", "failed"):
            await self._ack(job.entry_id, outcome)
        elif outcome is not None:
            metrics.supervisor_jobs_total.labels(outcome).inc()

    async def _outcome(self, job):
        """Runs the job; returns how it ended, or None to leave it pending (claimed and retried once idle)."""
        try:
            if not await sync_to_async(call_open)(job.call_id):
                return "already_ended"
        except Exception:  # the database: nothing is known of the call yet, so nothing is ended
            logger.exception("call %s could not be read; its job stays pending", job.call_id)
            return None
        metrics.supervised_calls.inc()
        try:
            await self.handler(call_id=job.call_id, stop=job.stop)
        except Exception:
            logger.exception("supervision of call %s failed", job.call_id)
            try:
                await sync_to_async(call_lost)(job.call_id)
            except Exception:  # the database too: leave the job pending, another beat retries it
                logger.exception("call %s could not be ended as lost; its job stays pending", job.call_id)
                return None
            return "failed"
        finally:
            metrics.supervised_calls.dec()
        return ("lost" if job.lost else "released") if job.stop.is_set() else "supervised"

    async def _ack(self, entry_id, outcome):
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)  # done: the stream keeps only jobs not yet done
                await pipe.execute()
        except redis.RedisError as exc:
            # Left pending: a supervisor claims it later, finds the call ended and acks it then.
            self._redis_failed(exc)
        metrics.supervisor_jobs_total.labels(outcome).inc()

    def _spawn(self, coroutine):
        task = asyncio.create_task(coroutine)
        self.acks.add(task)
        task.add_done_callback(self.acks.discard)

    async def _drain(self):
        """On shutdown: stop every call's handler (the calls go on), then release the jobs for others to claim."""
        jobs = list(self.jobs.values())
        for job in jobs:
            job.stop.set()
        tasks = [job.task for job in jobs]
        if tasks:
            await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        pending = [job.entry_id for job in jobs if not job.lost]
        # Jobs read but not started (read as we stopped) are ours too: release everything this consumer owns.
        try:
            mine = await self.client.xpending_range(
                self.stream, GROUP, min="-", max="+", count=max(self.max_calls * 2, 100), consumername=self.consumer
            )
            pending = sorted({*pending, *(entry["message_id"] for entry in mine)})
            if pending:
                await self.client.xclaim(
                    self.stream, GROUP, self.consumer, 0, pending, idle=RELEASED_IDLE_MS, justid=True
                )
                logger.info("released %d call(s) for another supervisor to re-join", len(pending))
        except redis.RedisError as exc:
            logger.warning("could not release jobs (%s: %s); others claim them once idle", type(exc).__name__, exc)
        if self.acks:
            await asyncio.wait(set(self.acks), timeout=2)

    # --- Redis's health, logged once per outage --------------------------------------------------------------

    def _redis_failed(self, exc):
        if self.redis_down_since is None:
            self.redis_down_since = time.monotonic()
            logger.warning(
                "call supervisor: Redis failed (%s: %s); the calls held go on, new jobs wait until it answers",
                type(exc).__name__, exc,
            )  # fmt: skip

    def _redis_answered(self):
        if self.redis_down_since is not None:
            seconds, self.redis_down_since = time.monotonic() - self.redis_down_since, None
            logger.warning("call supervisor: Redis answers again after %.1f s", seconds)


async def _sleep_or_stop(stop, seconds):
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def supervisor_client():
    """The supervisor's async Redis client: reads block up to READ_BLOCK_MS, so its socket waits a little longer."""
    timeout = settings.REDIS_TIMEOUT
    return redis.asyncio.Redis.from_url(
        settings.REDIS_URL,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=READ_BLOCK_MS / 1000 + timeout,
    )


async def supervisor_main(*, handler, max_calls, on_ready=None, stop=None):
    """The call_supervisor process: supervise until SIGTERM or SIGINT, then release and return."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = supervisor_client()
    supervisor = StreamSupervisor(
        client=client,
        handler=handler,
        stream=settings.SPEECH_SUPERVISOR_STREAM,
        consumer=consumer_name(),
        max_calls=max_calls,
        claim_idle_seconds=settings.SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS,
        heartbeat_seconds=settings.SPEECH_SUPERVISOR_HEARTBEAT_SECONDS,
        on_ready=on_ready,
    )
    logger.info("call supervisor %s: jobs from %s at %s", supervisor.consumer, settings.SPEECH_SUPERVISOR_STREAM,
                redacted(settings.REDIS_URL))  # fmt: skip
    try:
        await supervisor.run(stop)
    finally:
        await client.aclose()
