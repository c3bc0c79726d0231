"""attach_submit and the in-process dispatcher: jobs reach a supervisor, never fail a mint, and a Redis that is down
or hung costs an attach little and the ones after it nothing."""

import logging
import socket
import threading
import time
import uuid

import pytest
import redis
from django.test import override_settings
from prometheus_client import REGISTRY

from speech.supervisor import dispatch
from speech.supervisor.dispatch import Dispatcher, attach_submit, in_process_dispatcher
from tests.parts import RedisServer, until
from tests.speech.supervisor import handlers

WAITING = "tests.speech.supervisor.handlers.waiting_handler"
STREAM = "speech:calls:attach"


def unsupervised(reason):
    return REGISTRY.get_sample_value("calls_unsupervised_total", {"reason": reason}) or 0.0


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_dispatch():
    handlers.started.clear()
    dispatch.dispatch_reset(timeout=5)
    yield
    dispatch.dispatch_reset(timeout=5)


def test_the_dispatcher_supervises_each_call_once_on_its_own_thread_and_refuses_past_its_bound():
    dispatcher = Dispatcher(handler=handlers.waiting_handler, max_calls=2)
    assert dispatcher.thread is None  # started by the first job, not before
    assert dispatcher.submit(call_id="a")
    assert dispatcher.submit(call_id="a")  # already held: not joined twice
    assert dispatcher.submit(call_id="b")
    assert not dispatcher.submit(call_id="c")
    until(lambda: len(handlers.started) == 2)
    assert sorted(call for call, _ in handlers.started) == ["a", "b"]
    assert dispatcher.thread.daemon and dispatcher.thread is not threading.current_thread()
    assert dispatcher.held() == {"a", "b"}

    dispatcher.shutdown(timeout=5)
    assert all(stop.is_set() for _, stop in handlers.started)
    assert dispatcher.held() == set()
    assert not dispatcher.thread


def test_a_call_whose_supervision_ended_frees_its_place():
    done = threading.Event()

    async def brief(*, call_id, stop):
        done.set()

    dispatcher = Dispatcher(handler=brief, max_calls=1)
    assert dispatcher.submit(call_id="a")
    assert done.wait(5)
    until(lambda: dispatcher.held() == set())
    assert dispatcher.submit(call_id="b")
    dispatcher.shutdown(timeout=5)


@override_settings(SPEECH_CALL_DISPATCH="in_process", SPEECH_SUPERVISOR_HANDLER=WAITING, SPEECH_SUPERVISOR_MAX_CALLS=1)
def test_attach_submit_in_process_supervises_and_says_when_the_process_is_full(caplog):
    caplog.set_level(logging.WARNING, logger="speech.supervisor")
    before = unsupervised("supervisor_full")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert attach_submit(call_id=first) is True
    until(lambda: [call for call, _ in handlers.started] == [first])
    assert attach_submit(call_id=second) is False
    assert unsupervised("supervisor_full") == before + 1
    assert [record.getMessage() for record in caplog.records] == [
        f"call {second} is not supervised (supervisor_full): the process holds its most calls"
    ]
    assert in_process_dispatcher().held() == {first}


@override_settings(SPEECH_CALL_DISPATCH="in_process", SPEECH_SUPERVISOR_HANDLER="tests.nowhere.handler")
def test_attach_submit_never_raises_into_the_mint(caplog):
    before = unsupervised("error")
    assert attach_submit(call_id=uuid.uuid4()) is False
    assert unsupervised("error") == before + 1
    assert "is not supervised (error): ModuleNotFoundError" in caplog.text


def test_attach_submit_adds_a_job_to_the_stream_of_the_supervisors_group(redis_server):
    call_id = str(uuid.uuid4())
    with override_settings(SPEECH_CALL_DISPATCH="redis", REDIS_URL=redis_server.url):
        assert attach_submit(call_id=call_id) is True
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    [(_entry_id, fields)] = client.xrange(STREAM)
    assert fields == {"call_id": call_id}
    # The group exists from the first job on: a supervisor started later still reads it.
    [group] = client.xinfo_groups(STREAM)
    assert group["name"] == "supervisors" and group["lag"] == 1


def test_with_redis_stopped_attach_fails_fast_counts_and_logs_and_skips_redis_for_the_retry_period(
    redis_server, caplog
):
    caplog.set_level(logging.WARNING, logger="speech.supervisor")
    before = unsupervised("redis_unavailable")
    with override_settings(SPEECH_CALL_DISPATCH="redis", REDIS_URL=redis_server.url, REDIS_RETRY_SECONDS=30):
        assert attach_submit(call_id=uuid.uuid4()) is True
        redis_server.stop()
        started = time.perf_counter()
        assert attach_submit(call_id=uuid.uuid4()) is False  # refused: at once
        first = time.perf_counter() - started
        started = time.perf_counter()
        assert attach_submit(call_id=uuid.uuid4()) is False  # within the retry period: Redis is not tried
        second = time.perf_counter() - started
    assert first < 0.5, first
    assert second < 0.05, second  # far below any trip to Redis: none is made
    assert unsupervised("redis_unavailable") == before + 2
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2 and all("is not supervised (redis_unavailable): Redis at redis://127.0.0.1:" in line
                                   for line in lines), lines  # fmt: skip
    assert "ConnectionError" in lines[0] and "failed less than 30" in lines[1]


def test_a_hung_redis_costs_one_attach_the_timeout_and_the_next_ones_nothing():
    # A listener that never answers: connections complete in the kernel's backlog, then nothing comes back.
    hung = socket.create_server(("127.0.0.1", 0), backlog=16)
    url = f"redis://:secret-password@127.0.0.1:{hung.getsockname()[1]}/0"
    try:
        with override_settings(SPEECH_CALL_DISPATCH="redis", REDIS_URL=url, REDIS_TIMEOUT=0.3, REDIS_RETRY_SECONDS=30):
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                assert attach_submit(call_id=uuid.uuid4()) is False
                timings.append(time.perf_counter() - started)
    finally:
        hung.close()
    assert 0.25 <= timings[0] < 1.0, timings
    assert max(timings[1:]) < 0.05, timings  # far below the timeout: Redis is not tried


def test_log_lines_never_carry_the_redis_password(caplog):
    assert dispatch.redacted("redis://:hunter2@cache:6379/0") == "redis://***@cache:6379/0"
    assert dispatch.redacted("rediss://user:hunter2@cache/1") == "rediss://***@cache/1"
    assert dispatch.redacted("redis://cache:6379/0") == "redis://cache:6379/0"
