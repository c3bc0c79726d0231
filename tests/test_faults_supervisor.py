"""Call supervisors as real processes (`manage.py call_supervisor`) on a Redis of the test's own: one killed
mid-call is replaced within seconds, one stopped hands its calls over at once, and attaches while Redis is down
leave calls unsupervised, counted and logged, without failing anything."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.parts import RedisServer, server_env
from tests.servers import ROOT, manage

STREAM = "speech:calls:attach"
LOGGING_HANDLER = "tests.speech.supervisor.handlers.logging_handler"
CLAIM_IDLE_SECONDS = 2.0
NEW_CALL = """
from django.utils import timezone
from settings_admin.models import Tenant
from speech.calls.models import Call
call = Call.objects.create(tenant=Tenant.objects.get(slug="default"), provider="local", model="local-echo",
    voice="verse", webrtc_mode="direct", provider_call_id="rtc_0123456789abcdef", status="active",
    minted_at=timezone.now())
print(call.pk)
"""
ATTACH = "from speech.supervisor.dispatch import attach_submit; print(attach_submit(call_id={call_id!r}))"
END = "from speech.calls.services import call_end; print(call_end(call_id={call_id!r}, reason='hung_up'))"


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


class Supervisors:
    """`manage.py call_supervisor` processes, each with its stderr (the log) in a file of its own."""

    def __init__(self, env, folder):
        self.env = env
        self.folder = folder
        self.processes = []

    def start(self):
        log = open(self.folder / f"supervisor-{len(self.processes)}.log", "w")  # noqa: SIM115 (kept open by the child)
        process = subprocess.Popen(
            [sys.executable, "manage.py", "call_supervisor"], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        log.close()
        line = process.stdout.readline()
        assert line.startswith("call supervisor ready"), line + self.log(len(self.processes))
        self.processes.append(process)
        return process

    def log(self, index):
        return (self.folder / f"supervisor-{index}.log").read_text()

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def supervisors(tmp_path, redis_server):
    env = server_env(
        tmp_path,
        REDIS_URL=redis_server.url,
        SPEECH_SUPERVISOR_HANDLER=LOGGING_HANDLER,
        SUPERVISOR_TEST_LOG=str(tmp_path / "handler.log"),
        SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS=str(CLAIM_IDLE_SECONDS),
        SPEECH_SUPERVISOR_HEARTBEAT_SECONDS="0.5",
        LOG_LEVEL="INFO",
    )
    manage(env, "migrate", "--noinput")
    started = Supervisors(env, tmp_path)
    yield started
    started.stop_all()


def handler_lines(env, wanted, seconds=15):
    """The handler log's lines ("start <call> <pid> <time>", ...) once `wanted(lines)` holds."""
    path = env["SUPERVISOR_TEST_LOG"]
    deadline = time.monotonic() + seconds
    while True:
        text = Path(path).read_text() if os.path.exists(path) else ""
        lines = [line.split() for line in text.splitlines()]
        if wanted(lines):
            return lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)


def shell(env, code):
    return manage(env, "shell", "-c", code).strip().splitlines()[-1]


def test_a_killed_supervisor_is_replaced_within_seconds_and_a_stopped_one_hands_over_at_once(supervisors):
    env = supervisors.env
    call_id = shell(env, NEW_CALL)
    one = supervisors.start()
    two = supervisors.start()
    assert shell(env, ATTACH.format(call_id=call_id)) == "True"
    [first] = handler_lines(env, lambda lines: lines)
    assert first[:2] == ["start", call_id]
    holder, other = (one, two) if int(first[2]) == one.pid else (two, one)

    # Killed mid-call: no goodbye; its job is claimed once idle, and the call re-joined by the other.
    holder.send_signal(signal.SIGKILL)
    killed_at = time.time()
    lines = handler_lines(env, lambda lines: len(lines) == 2)
    assert lines[1][:3] == ["start", call_id, str(other.pid)]
    assert float(lines[1][3]) - killed_at < CLAIM_IDLE_SECONDS + 2, "the call waited too long for a supervisor"

    # Stopped (SIGTERM): it leaves the call running and releases the job; a third supervisor takes it at once.
    three = supervisors.start()
    other.send_signal(signal.SIGTERM)
    assert other.wait(15) == 0
    stopped_at = time.time()
    lines = handler_lines(env, lambda lines: len(lines) == 4)
    assert lines[2][:3] == ["stopped", call_id, str(other.pid)]
    assert lines[3][:3] == ["start", call_id, str(three.pid)]
    assert float(lines[3][3]) - stopped_at < CLAIM_IDLE_SECONDS, "a released job waited for the idle threshold"
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    assert client.xpending(STREAM, "supervisors")["pending"] == 1  # not done while the call goes on

    # The call ends: the handler returns and the job is done.
    assert shell(env, END.format(call_id=call_id)) == "True"
    lines = handler_lines(env, lambda lines: len(lines) == 5)
    assert lines[4][:3] == ["ended", call_id, str(three.pid)]
    deadline = time.monotonic() + 5
    while client.xpending(STREAM, "supervisors")["pending"]:
        assert time.monotonic() < deadline, "the job of an ended call stayed pending"
        time.sleep(0.05)
    three.send_signal(signal.SIGTERM)
    assert three.wait(15) == 0
    logs = "".join(supervisors.log(index) for index in range(3))
    assert "Traceback" not in logs, logs
    assert f"call {call_id}: claimed job" in logs


def test_attaches_while_redis_is_down_are_counted_and_logged_and_supervisors_wait_for_it(supervisors, redis_server):
    env = supervisors.env
    call_id = shell(env, NEW_CALL)
    supervisor = supervisors.start()
    redis_server.stop()
    # The web side: attach answers False at once, one log line says the call is not supervised.
    code = (
        "import time; from speech.supervisor.dispatch import attach_submit; from prometheus_client import REGISTRY\n"
        f"started = time.perf_counter(); ok = attach_submit(call_id={call_id!r})\n"
        "took = time.perf_counter() - started\n"
        "print(ok, REGISTRY.get_sample_value('calls_unsupervised_total', {'reason': 'redis_unavailable'}), took)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    ok, count, took = result.stdout.split()[-3:]
    assert (ok, count) == ("False", "1.0"), result.stdout + result.stderr
    assert float(took) < 0.5
    assert f"call {call_id} is not supervised (redis_unavailable): Redis at redis://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr

    # The supervisor lives through the outage (one line says so) and takes jobs again once Redis is back.
    deadline = time.monotonic() + 10
    while "call supervisor: Redis failed" not in supervisors.log(0):
        assert time.monotonic() < deadline, supervisors.log(0)
        time.sleep(0.05)
    assert supervisor.poll() is None
    redis_server.start()
    assert shell(env, ATTACH.format(call_id=call_id)) == "True"
    lines = handler_lines(env, lambda lines: lines)
    assert lines[0][:3] == ["start", call_id, str(supervisor.pid)]
    log = supervisors.log(0)
    assert log.count("call supervisor: Redis failed") == 1 and "Redis answers again" in log, log
    assert "Traceback" not in log
