"""make bench's tools figure: the tool round trip the gateway adds, in one `manage.py call_supervisor` process.

The fake sideband (tests/bench/sideband_fake.py --tool current_time) has the model call the tenant's built-in
`current_time` in every call every few seconds; the supervisor is the real one: it looks the tool up, validates
the arguments, runs the built-in, sends the function_call_output and response.create, and writes each ToolRun to
PostgreSQL through its recorder. Measured over a window once every call is held: the supervisor's own histogram
tool_gateway_seconds (arguments done -> output sent, the handler's own time left out: what a webhook's time would
not change) and, as the fake sees it, the whole round trip (arguments.done sent -> output received, the handler
and both loopback hops included).
"""

import os
import signal
import statistics
import subprocess
import sys
import time

import psycopg

from tests.bench.supervisor import (
    _answers,
    get_json,
    histogram_buckets,
    histogram_quantile,
    percentile,
    scrape,
    wait_for,
)
from tests.servers import ROOT, manage
from tests.vault_server import free_port

DATABASE = "speech_bench_tools"
TARGET_P50_MS = 5.0
SETUP = """
from django.utils import timezone
from settings_admin.models import SpeechSettings, Tenant
from speech.calls.models import Call, CallPolicy
from speech.tools.models import Tool
tenant, _ = Tenant.objects.update_or_create(slug="tools", defaults=dict(name="tools", shared_credentials=True))
SpeechSettings.objects.update_or_create(tenant=tenant, defaults=dict(
    provider="openai_realtime", model="gpt-realtime", voice="verse", endpoint="{endpoint}"))
CallPolicy.objects.update_or_create(tenant=tenant, defaults=dict(time_zone="Europe/Paris"))
Tool.objects.update_or_create(tenant=tenant, name="current_time", defaults=dict(
    kind="builtin", builtin="current_time", parameters={{"type": "object", "properties": {{}}}}))
now = timezone.now()
calls = Call.objects.bulk_create(Call(
    tenant=tenant, provider="openai_realtime", model="gpt-realtime", voice="verse", webrtc_mode="direct",
    provider_call_id=f"rtc_{{n:016x}}", provider_session_id=f"sess_{{n:016x}}", status="active",
    records_transcript=False, minted_at=now, connected_at=now) for n in range({count}))
print(" ".join(str(call.pk) for call in calls))
"""
ATTACH = """
import sys
from speech.supervisor.dispatch import attach_submit
for call_id in sys.stdin.read().split():
    assert attach_submit(call_id=call_id)
"""


def fresh_database(postgres):
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return f"{postgres}/{DATABASE}"


def runs_written(database_url):
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT status, count(*) FROM speech_toolrun GROUP BY status ORDER BY status"
        ).fetchall()


def tools_figures(*, postgres, redis_url, calls, seconds, turn_seconds):
    """(rows, detail) for the report: each row (measure, result, target, met)."""
    fake_port, metrics_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{fake_port}/v1/realtime/client_secrets"
    database_url = fresh_database(postgres)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "OPENAI_API_KEY": "sk-bench-server-key",
        "SPEECH_ALLOWED_ENDPOINT_HOSTS": f"127.0.0.1:{fake_port}",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=False, capture_output=True)
    manage(env, "migrate", "--noinput")
    ids = manage(env, "shell", "-c", SETUP.format(endpoint=endpoint, count=calls)).strip().splitlines()[-1].split()
    processes = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sideband_fake", "--port", str(fake_port),
             "--turn-seconds", str(turn_seconds), "--tool", "current_time"], cwd=ROOT, stdout=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_for(lambda: _answers(f"http://127.0.0.1:{fake_port}/stats"), 30, "the fake sideband did not start")
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "call_supervisor", "--max-calls", str(calls),
             "--metrics-port", str(metrics_port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(supervisor)
        if not supervisor.stdout.readline().startswith("call supervisor ready"):
            raise SystemExit("make bench: the call supervisor did not start")
        manage(env, "shell", "-c", ATTACH, stdin="\n".join(ids))
        wait_for(lambda: get_json(f"http://127.0.0.1:{fake_port}/stats")["open"] >= calls, 120,
                 f"the supervisor did not hold {calls} sidebands")  # fmt: skip
        time.sleep(min(turn_seconds * 1.5, 10))  # every call has made a call; first lookups are done
        before = scrape(metrics_port)
        stats_before = get_json(f"http://127.0.0.1:{fake_port}/stats")
        time.sleep(seconds)
        after = scrape(metrics_port)
        stats = get_json(f"http://127.0.0.1:{fake_port}/stats")
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(120)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            process.wait(20)

    buckets_before = histogram_buckets(before, "tool_gateway_seconds")
    buckets_after = histogram_buckets(after, "tool_gateway_seconds")
    gateway_p50 = histogram_quantile(0.5, buckets_before, buckets_after) * 1000
    gateway_p95 = histogram_quantile(0.95, buckets_before, buckets_after) * 1000
    runs = buckets_after.get(float("inf"), 0) - buckets_before.get(float("inf"), 0)
    calls_made = stats["tool_calls"] - stats_before["tool_calls"]
    answered = stats["tool_outputs"] - stats_before["tool_outputs"]
    trips = stats["round_trips_ms"][-answered:] if answered else []
    outcomes = {labels["outcome"]: value for labels, value in after.get("tool_runs_total", [])
                if labels.get("kind") == "builtin"}  # fmt: skip
    written = dict(runs_written(database_url))
    rows = [
        ("tools: round trip the gateway adds (arguments done -> output sent, handler excluded) p50 / p95",
         f"{gateway_p50:.3f} / {gateway_p95:.3f} ms", f"p50 <= {TARGET_P50_MS:g} ms", gateway_p50 <= TARGET_P50_MS),
        ("tools: whole round trip as the provider sees it (built-in current_time, loopback) p50 / p95",
         f"{statistics.median(trips):.3f} / {percentile(trips, 0.95):.3f} ms" if trips else "none", "reported",
         bool(trips)),
        ("tools: calls answered in the window", f"{answered} of {calls_made}", "all", answered >= calls_made - calls),
    ]  # fmt: skip
    detail = (
        f"Tools: {calls} calls held by one supervisor process, each making a function call of the built-in "
        f"`current_time` every {turn_seconds:g} s; over {seconds:.0f} s, {runs:.0f} runs measured by the "
        f"supervisor's histogram tool_gateway_seconds (interpolated within its buckets, as Prometheus's "
        f"histogram_quantile does) and {len(trips)} round trips timed by the fake (its send of arguments.done to "
        f"its receipt of the output, on one clock); outcomes {dict(sorted(outcomes.items()))}; ToolRun rows "
        f"written by the supervisor's exit: {written}. A webhook's own time adds to the whole round trip, not to "
        "the gateway's part"
    )
    return rows, detail
