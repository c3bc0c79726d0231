"""The supervisors' consumer group on a real Redis: jobs are run, acked when the call has ended (at once when it
already had), released on shutdown for another supervisor to claim, and left alone once another owns them."""

import asyncio
import uuid

import pytest
import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from speech.calls.models import Call, CallStatus, EndReason
from speech.calls.services import call_end
from speech.supervisor.dispatch import GROUP, attach_submit
from speech.supervisor.streams import StreamSupervisor
from tests.parts import RedisServer

STREAM = "speech:calls:attach"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def submit(redis_server):
    from speech.supervisor import dispatch

    dispatch.dispatch_reset()

    def submit(call_id):
        with override_settings(SPEECH_CALL_DISPATCH="redis", REDIS_URL=redis_server.url):
            assert attach_submit(call_id=call_id)

    yield submit
    dispatch.dispatch_reset()


def new_call(tenant, status=CallStatus.ACTIVE):
    return Call.objects.create(
        tenant=tenant, provider="local", model="local-echo", voice="verse", webrtc_mode="direct",
        provider_call_id=f"rtc_{uuid.uuid4().hex[:16]}", status=status, minted_at=timezone.now(),
    )  # fmt: skip


class Recorder:
    """A handler with call_supervise's contract that records what it was given and ends when told to."""

    def __init__(self):
        self.started = asyncio.Queue()
        self.finish = {}  # call id -> asyncio.Event: return as if the call ended

    async def __call__(self, *, call_id, stop):
        finish = self.finish.setdefault(call_id, asyncio.Event())
        await self.started.put((call_id, stop))
        done = asyncio.ensure_future(finish.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([done, stopped], return_when=asyncio.FIRST_COMPLETED)
        done.cancel()
        stopped.cancel()


def supervisor(url, handler, name, **kwargs):
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    options = {"max_calls": 10, "claim_idle_seconds": 0.5, "heartbeat_seconds": 0.1, **kwargs}
    return StreamSupervisor(client=client, handler=handler, stream=STREAM, consumer=name, **options)


def pending(url):
    return redis.Redis.from_url(url, decode_responses=True).xpending(STREAM, GROUP)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_job_is_run_and_acked_once_its_call_has_ended_and_one_for_an_ended_call_at_once(tenant, submit, redis_server):
    live, ended = new_call(tenant), new_call(tenant, status=CallStatus.ENDED)
    submit(ended.pk)
    submit(live.pk)
    submit("not-a-call")  # hostile or broken entries are dropped, not run
    handler = Recorder()
    already_ended = sample("supervisor_jobs_total", outcome="already_ended")

    async def scenario():
        stop = asyncio.Event()
        one = supervisor(redis_server.url, handler, "one")
        running = asyncio.create_task(one.run(stop))
        call_id, _ = await handler.started.get()
        assert call_id == str(live.pk)
        while pending(redis_server.url)["pending"] != 1:  # the ended call's job and the junk are acked at once
            await asyncio.sleep(0.02)
        await sync_to_async(call_end)(call_id=live.pk, reason=EndReason.HUNG_UP)
        handler.finish[call_id].set()
        while pending(redis_server.url)["pending"]:
            await asyncio.sleep(0.02)
        stop.set()
        await running
        return one

    one = run(scenario())
    assert one.jobs == {}
    assert handler.started.empty()  # the ended call was never joined
    assert sample("supervisor_jobs_total", outcome="already_ended") == already_ended + 1
    assert redis.Redis.from_url(redis_server.url).xlen(STREAM) == 0  # done jobs leave the stream


def test_a_stopping_supervisor_leaves_the_call_running_and_another_claims_its_job_at_once(tenant, submit, redis_server):
    call = new_call(tenant)
    submit(call.pk)
    first, second = Recorder(), Recorder()
    claims = sample("supervisor_claims_total")

    async def scenario():
        stop_one, stop_two = asyncio.Event(), asyncio.Event()
        # A long idle threshold: the job can only reach the second supervisor because the first released it.
        one = supervisor(redis_server.url, first, "one", claim_idle_seconds=60)
        running = asyncio.create_task(one.run(stop_one))
        _call_id, stop = await first.started.get()
        two = supervisor(redis_server.url, second, "two", claim_idle_seconds=60)
        running_two = asyncio.create_task(two.run(stop_two))
        stop_one.set()
        await running
        assert stop.is_set()
        call_id, _ = await asyncio.wait_for(second.started.get(), 5)
        stop_two.set()
        await running_two
        return call_id

    assert run(scenario()) == str(call.pk)
    assert Call.objects.get(pk=call.pk).status == CallStatus.ACTIVE  # stop never ends the call
    assert pending(redis_server.url)["pending"] == 1  # released again by the second: still not done
    assert sample("supervisor_claims_total") == claims + 1


def test_a_supervisor_that_no_longer_owns_a_job_leaves_its_call_to_the_owner(tenant, submit, redis_server):
    call = new_call(tenant)
    submit(call.pk)
    handler = Recorder()

    async def scenario():
        stop = asyncio.Event()
        one = supervisor(redis_server.url, handler, "one")
        running = asyncio.create_task(one.run(stop))
        _call_id, call_stop = await handler.started.get()
        # Another supervisor claimed the job (as after a partition that kept our beats from Redis).
        [entry] = await one.client.xpending_range(STREAM, GROUP, min="-", max="+", count=10)
        await one.client.xclaim(STREAM, GROUP, "other", 0, [entry["message_id"]])
        await asyncio.wait_for(call_stop.wait(), 5)
        while one.jobs:
            await asyncio.sleep(0.02)
        stop.set()
        await running

    run(scenario())
    [entry] = redis.Redis.from_url(redis_server.url, decode_responses=True).xpending_range(
        STREAM, GROUP, min="-", max="+", count=10
    )
    assert entry["consumer"] == "other"  # not acked, not taken back


def test_a_failing_handler_ends_its_call_as_lost_rather_than_retry_it_for_ever(tenant, submit, redis_server):
    call = new_call(tenant)
    submit(call.pk)

    async def failing(*, call_id, stop):
        raise RuntimeError("a bug")

    async def scenario():
        stop = asyncio.Event()
        one = supervisor(redis_server.url, failing, "one")
        running = asyncio.create_task(one.run(stop))
        while (
            pending(redis_server.url)["pending"]
            or not redis.Redis.from_url(redis_server.url).xinfo_groups(STREAM)[0]["entries-read"]
        ):
            await asyncio.sleep(0.02)
        stop.set()
        await running

    run(scenario())
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.ENDED, EndReason.SUPERVISOR_LOST)


def test_a_supervisor_holds_at_most_its_bound_and_takes_more_as_calls_end(tenant, submit, redis_server):
    calls = [new_call(tenant) for _ in range(3)]
    for call in calls:
        submit(call.pk)
    handler = Recorder()

    async def scenario():
        stop = asyncio.Event()
        one = supervisor(redis_server.url, handler, "one", max_calls=2)
        running = asyncio.create_task(one.run(stop))
        first = [(await handler.started.get())[0] for _ in range(2)]
        await asyncio.sleep(0.3)
        assert handler.started.empty() and len(one.jobs) == 2
        handler.finish[first[0]].set()
        third, _ = await asyncio.wait_for(handler.started.get(), 5)
        stop.set()
        await running
        return {*first, third}

    assert run(scenario()) == {str(call.pk) for call in calls}


def test_after_redis_restarts_empty_the_calls_held_go_on_and_new_jobs_are_taken(tenant, submit, redis_server, caplog):
    held, later = new_call(tenant), new_call(tenant)
    submit(held.pk)
    handler = Recorder()

    async def scenario():
        stop = asyncio.Event()
        one = supervisor(redis_server.url, handler, "one")
        running = asyncio.create_task(one.run(stop))
        _call_id, held_stop = await handler.started.get()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(redis_server.start)  # the same port, nothing kept
        await asyncio.sleep(1.5)  # a few beats and reads against the empty Redis
        await asyncio.to_thread(submit, later.pk)
        call_id, _ = await asyncio.wait_for(handler.started.get(), 10)
        assert not held_stop.is_set()  # the call held is not given up
        stop.set()
        await running
        return call_id

    assert run(scenario()) == str(later.pk)
    assert "the consumer group was gone" in caplog.text
    assert f"call {held.pk}: job" in caplog.text and "supervising the call on without it" in caplog.text
