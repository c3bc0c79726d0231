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

from tests.parts import OPENAI_TENANT, RedisServer, server_env, until
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
    # One line per outage, not one per attempt; a connection the restart left stale may fail once more after it.
    assert 1 <= log.count("call supervisor: Redis failed") <= 2 and "Redis answers again" in log, log
    assert "Traceback" not in log


# --- the real supervisor (call_supervise) on a real call to the local provider -----------------------------------

LOCAL_TENANT = """
from settings_admin.models import SpeechSettings
SpeechSettings.objects.filter(tenant__slug="default").update(provider="local", model="local-echo", endpoint="")
"""
LOCAL_CALL = """
from django.utils import timezone
from settings_admin.models import Tenant
from speech.calls.models import Call
now = timezone.now()
call = Call.objects.create(tenant=Tenant.objects.get(slug="default"), provider="local", model="local-echo",
    voice="verse", webrtc_mode="direct", provider_call_id={call_id!r}, provider_session_id={session_id!r},
    status="active", minted_at=now, connected_at=now, records_transcript=True)
print(call.pk)
"""
# The default tenant on the local provider, without rate limits, and an API key of it.
LOCAL_KEY = OPENAI_TENANT.format(rate="", provider="local", endpoint="").replace('"gpt-realtime"', '"local-echo"')
SESSION = {
    "type": "realtime",
    "model": "local-echo",
    "audio": {"input": {"transcription": {"model": "any"}, "turn_detection": {"type": "server_vad"}}},
}


class Database:
    """Reads the supervisors' SQLite database directly (quick enough to poll)."""

    def __init__(self, url):
        self.path = url.removeprefix("sqlite:///")

    def rows(self, query, *params):
        import sqlite3

        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(query, params).fetchall()

    def lines(self, call_id):
        return self.rows(
            "SELECT speaker, text, key FROM speech_transcriptline WHERE call_id = ? ORDER BY said_at, id",
            call_id.replace("-", ""),
        )


def gauge(port, name):
    import requests

    from tests.test_production_server import metric

    return metric(requests.get(f"http://127.0.0.1:{port}/", timeout=5).text, name)


def test_a_supervisor_killed_mid_call_is_replaced_and_the_transcript_loses_and_repeats_nothing(
    tmp_path, redis_server, local_service
):
    import asyncio

    import requests

    from tests.speech.local.rtc_client import RtcClient
    from tests.vault_server import free_port

    env = server_env(
        tmp_path, REDIS_URL=redis_server.url, SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS=str(CLAIM_IDLE_SECONDS),
        SPEECH_SUPERVISOR_HEARTBEAT_SECONDS="0.5", LOG_LEVEL="INFO", **local_service.gateway_env,
    )  # fmt: skip
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", LOCAL_TENANT)
    database = Database(env["DATABASE_URL"])
    ports = [free_port(), free_port()]
    supervisors = Supervisors(env, tmp_path)
    key = local_service.key("default")  # the default tenant's account at the local provider

    def say(rtc, text):
        rtc.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            }
        )
        rtc.send({"type": "response.create"})  # fmt: skip

    async def scenario():
        minted = await asyncio.to_thread(
            requests.post, f"{local_service.v1}/realtime/client_secrets", json={"session": SESSION}, timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        rtc = RtcClient()

        async def post_offer(sdp, secret):
            return await asyncio.to_thread(
                requests.post, f"{local_service.v1}/realtime/calls", data=sdp.encode(), timeout=30,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"},
            )  # fmt: skip

        await rtc.connect(post_offer, minted.json()["value"])
        provider_call_id = rtc.location.rsplit("/", 1)[-1]
        call_id = await asyncio.to_thread(
            shell, env, LOCAL_CALL.format(call_id=provider_call_id, session_id=minted.json()["session"]["id"])
        )
        for port in ports:
            env["SPEECH_SUPERVISOR_METRICS_PORT"] = str(port)
            await asyncio.to_thread(supervisors.start)
        assert await asyncio.to_thread(shell, env, ATTACH.format(call_id=call_id)) == "True"
        holder = await asyncio.to_thread(until, lambda: [p for p in ports if gauge(p, "calls_active") == 1],
                                         what="a supervisor joining the call")  # fmt: skip
        [holder_port] = holder
        say(rtc, "Before the kill")
        await rtc.wait_for("response.done")
        await asyncio.to_thread(until, lambda: len(database.lines(call_id)) == 2, what="two lines")

        index = ports.index(holder_port)
        killed, other_port = supervisors.processes[index], ports[1 - index]
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        killed_at = time.monotonic()
        await asyncio.to_thread(until, lambda: gauge(other_port, "calls_active") == 1, 15, "the re-join")
        rejoined_after = time.monotonic() - killed_at
        say(rtc, "After the kill")
        await rtc.wait_for("response.done")
        await asyncio.to_thread(until, lambda: len(database.lines(call_id)) == 4, what="four lines")
        await rtc.close()  # the user hangs up: the supervisor ends the call and its job is done
        await asyncio.to_thread(
            until, lambda: database.rows("SELECT status, end_reason FROM speech_call WHERE id = ?",
                                         call_id.replace("-", ""))[0] == ("ended", "hung_up"), 20, "the end",
        )  # fmt: skip
        return call_id, rejoined_after, supervisors.processes[1 - index], other_port

    try:
        call_id, rejoined_after, survivor, survivor_port = asyncio.run(asyncio.wait_for(scenario(), 120))
        client = redis.Redis.from_url(redis_server.url)
        until(lambda: client.xpending(STREAM, "supervisors")["pending"] == 0, 5, "the job's ack")
        assert gauge(survivor_port, "supervisor_claims_total") == 1
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(15) == 0
    finally:
        supervisors.stop_all()
    assert rejoined_after < CLAIM_IDLE_SECONDS + 3, rejoined_after
    lines = database.lines(call_id)
    assert [(speaker, text) for speaker, text, _ in lines] == [
        ("user", "Before the kill"), ("assistant", "Before the kill"),
        ("user", "After the kill"), ("assistant", "After the kill"),
    ]  # fmt: skip
    assert len({key for *_, key in lines}) == 4
    logs = supervisors.log(0) + supervisors.log(1)
    assert "Traceback" not in logs, logs


def test_with_redis_stopped_a_gateway_mints_and_attaches_calls_and_says_they_are_not_supervised(
    tmp_path, redis_server, local_service
):
    import asyncio

    import requests

    from tests.servers import start_server
    from tests.speech.local.rtc_client import RtcClient
    from tests.test_production_server import metric
    from tests.vault_server import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(tmp_path, REDIS_URL=redis_server.url, **local_service.gateway_env)
    manage(env, "migrate", "--noinput")
    raw_key = shell(env, LOCAL_KEY)
    headers = {"Authorization": f"Api-Key {raw_key}"}
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = start_server(env, port, log=log)
    try:
        redis_server.stop()
        minted = requests.post(f"{base}/api/v1/realtime_session", json={}, headers=headers, timeout=10)
        assert minted.status_code == 200, minted.text
        session = minted.json()

        async def connect():
            rtc = RtcClient()

            async def post_offer(sdp, secret):
                return await asyncio.to_thread(
                    requests.post, session["webrtc"]["url"], data=sdp.encode(), timeout=30,
                    headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"},
                )  # fmt: skip

            await rtc.connect(post_offer, session["client_secret"]["value"])
            provider_call_id = rtc.location.rsplit("/", 1)[-1]
            report = await asyncio.to_thread(
                requests.post, f"{base}/api/v1/calls/report", headers=headers, timeout=10,
                json={"ref": session["call"]["ref"], "provider_call_id": provider_call_id},
            )  # fmt: skip
            await rtc.close()
            return report

        report = asyncio.run(asyncio.wait_for(connect(), 60))
        assert report.status_code == 200, report.text  # the call is known and active, though nobody supervises it
        text = requests.get(f"{base}/metrics", timeout=10).text
        assert metric(text, "calls_unsupervised_total", reason="redis_unavailable") == 1
    finally:
        server.terminate()
        server.wait(10)
    lines = log_path.read_text().splitlines()
    unsupervised = [line for line in lines if "is not supervised (redis_unavailable)" in line]
    assert len(unsupervised) == 1 and session["call"]["id"] in unsupervised[0], lines
    assert not [line for line in lines if "Traceback" in line or " 500 " in line], lines
