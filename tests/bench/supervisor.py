"""make bench's supervisor figures: one `manage.py call_supervisor` process holding many calls' sidebands.

A fake sideband (tests/bench/sideband_fake.py, a process of its own) plays a conversational turn in every call
every few seconds; the supervisor is the real one (call_supervise, its recorder writing every transcript line and
usage row to PostgreSQL), fed by attach jobs through Redis as under `make serve`. Measured over a window once
every call is held: the time the supervisor takes to handle one event (its own histogram,
sideband_event_seconds), the time from the fake sending a transcript to the supervisor recording it (both
clocks are this machine's), the process's memory and CPU; and what an attach costs the request that makes it.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import ROOT, manage
from tests.vault_server import free_port

DATABASE = "speech_bench_supervisor"
SETUP = """
from django.utils import timezone
from settings_admin.models import SpeechSettings, Tenant
from speech.calls.models import Call
tenant, _ = Tenant.objects.update_or_create(slug="calls", defaults=dict(name="calls", shared_credentials=True))
SpeechSettings.objects.update_or_create(tenant=tenant, defaults=dict(
    provider="openai_realtime", model="gpt-realtime", voice="verse", endpoint="{endpoint}"))
now = timezone.now()
calls = Call.objects.bulk_create(Call(
    tenant=tenant, provider="openai_realtime", model="gpt-realtime", voice="verse", webrtc_mode="direct",
    provider_call_id=f"rtc_{{n:016x}}", provider_session_id=f"sess_{{n:016x}}", status="active",
    records_transcript=True, minted_at=now, connected_at=now) for n in range({count}))
print(" ".join(str(call.pk) for call in calls))
"""
# Submits every call's attach job through Redis, timing each attach_submit, then times in-process submits
# (a handler that only waits) the same way: what supervision adds to the request that attaches a call.
ATTACH = """
import sys, time
from django.test import override_settings
from speech.supervisor.dispatch import attach_submit, in_process_dispatcher
ids = sys.stdin.read().split()
redis_ms, local_ms = [], []
for call_id in ids:
    started = time.perf_counter()
    assert attach_submit(call_id=call_id)
    redis_ms.append((time.perf_counter() - started) * 1000)
with override_settings(SPEECH_CALL_DISPATCH="in_process",
                       SPEECH_SUPERVISOR_HANDLER="tests.speech.supervisor.handlers.waiting_handler"):
    for n in range(len(ids)):
        started = time.perf_counter()
        attach_submit(call_id=f"local-{n}")
        local_ms.append((time.perf_counter() - started) * 1000)
    in_process_dispatcher().shutdown(timeout=5)
print("timings", *(f"{value:.4f}" for value in redis_ms), "|", *(f"{value:.4f}" for value in local_ms))
"""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"make bench: {what} within {seconds} s")
        time.sleep(0.2)


def scrape(port):
    """{sample name: [(labels, value)]} of the supervisor's metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def histogram_buckets(samples, name):
    return {float(labels["le"]): value for labels, value in samples.get(f"{name}_bucket", [])}


def histogram_quantile(fraction, before, after):
    """Prometheus's histogram_quantile over the observations between two scrapes: linear within a bucket."""
    bounds = sorted(after)
    counts = [after[bound] - before.get(bound, 0.0) for bound in bounds]
    total = counts[-1]
    if not total:
        return float("nan")
    rank = fraction * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1e-12)
        lower, below = bound, cumulative
    return lower


def process_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_database(postgres):
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return f"{postgres}/{DATABASE}"


def supervisor_figures(*, postgres, redis_url, calls, seconds, turn_seconds):
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
    # The last line: Django's shell may first say what it imported.
    ids = manage(env, "shell", "-c", SETUP.format(endpoint=endpoint, count=calls)).strip().splitlines()[-1].split()
    processes = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sideband_fake", "--port", str(fake_port),
             "--turn-seconds", str(turn_seconds)], cwd=ROOT, stdout=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_for(lambda: _answers(f"http://127.0.0.1:{fake_port}/stats"), 30, "the fake sideband did not start")
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "call_supervisor", "--max-calls", str(calls),
             "--metrics-port", str(metrics_port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(supervisor)
        if not supervisor.stdout.readline().startswith("call supervisor ready"):
            raise SystemExit("make bench: the call supervisor did not start")
        started = time.monotonic()
        printed = manage(env, "shell", "-c", ATTACH, stdin="\n".join(ids))
        redis_part, local_part = printed.split("timings", 1)[1].split("|")
        redis_ms, local_ms = [float(v) for v in redis_part.split()], [float(v) for v in local_part.split()]

        def all_held():
            return get_json(f"http://127.0.0.1:{fake_port}/stats")["open"] >= calls

        wait_for(all_held, 180, f"the supervisor did not hold {calls} sidebands")
        held_after = time.monotonic() - started
        time.sleep(min(turn_seconds, 10))  # every call has started talking; joins and first writes are done
        before = scrape(metrics_port)
        events_before = get_json(f"http://127.0.0.1:{fake_port}/stats")["events"]
        cpu_before, window_started = process_cpu_seconds(supervisor.pid), time.time()
        time.sleep(seconds)
        after = scrape(metrics_port)
        window_ended = time.time()
        cpu = (process_cpu_seconds(supervisor.pid) - cpu_before) / (window_ended - window_started)
        stats = get_json(f"http://127.0.0.1:{fake_port}/stats")
        written_by_window_end = rows_written(database_url)
        events = stats["events"] - events_before
        rss = process_rss_mb(supervisor.pid)
        held = stats["open"]
        supervised = sum(value for _, value in after.get("supervised_calls", []))
        stopping = time.monotonic()
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(120)
        stop_seconds = time.monotonic() - stopping
        sent_in_all = get_json(f"http://127.0.0.1:{fake_port}/stats")
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            process.wait(20)

    buckets_before = histogram_buckets(before, "sideband_event_seconds")
    buckets_after = histogram_buckets(after, "sideband_event_seconds")
    handle_p50 = histogram_quantile(0.5, buckets_before, buckets_after) * 1000
    handle_p99 = histogram_quantile(0.99, buckets_before, buckets_after) * 1000
    delays = transcript_delays_ms(database_url, window_started, window_ended)
    lines, responses = rows_written(database_url)
    backlog = stats["lines"] + stats["responses"] - sum(written_by_window_end)
    rows = [
        ("supervisor: sideband connections held by one process", f"{held} of {calls}", ">= 1000",
         held >= 1000 and held == calls),
        ("supervisor: event handling p50 / p99", f"{handle_p50:.3f} / {handle_p99:.3f} ms", "p99 <= 5 ms",
         handle_p99 <= 5),
        ("supervisor: memory (RSS)", f"{rss:.0f} MB ({rss * 1024 / calls:.0f} KB a call)", "reported", True),
        ("attach_submit: what supervision adds to the request that attaches a call",
         f"Redis p50 {statistics.median(redis_ms):.3f} ms, p99 {percentile(redis_ms, 0.99):.3f} ms; "
         f"in process p50 {statistics.median(local_ms):.3f} ms, p99 {percentile(local_ms, 0.99):.3f} ms",
         "none on the mint; p99 <= 10 ms", percentile(redis_ms, 0.99) <= 10),
    ]  # fmt: skip
    detail = (
        f"The supervisor: {calls} calls attached through Redis, all {calls} sidebands held {held_after:.1f} s after "
        f"the first attach (supervised_calls {supervised:.0f}); then over {seconds:.0f} s, {events} events "
        f"({events / seconds:.0f}/s; a turn of six events per call every {turn_seconds:.0f} s) handled at "
        f"{cpu:.0%} of one core; event handling from the supervisor's own histogram (sideband_event_seconds, "
        f"interpolated within its buckets as Prometheus's histogram_quantile does); a transcript's way from the "
        f"fake's send to the line's recorded time p50 {percentile(delays, 0.5):.1f} ms, p99 "
        f"{percentile(delays, 0.99):.1f} ms ({len(delays)} lines written in the window); the recorder's writes "
        f"(one database thread per process) trailed the calls by {backlog} rows at the window's end; by the "
        f"supervisor's exit, {lines} of {sent_in_all['lines']} transcript lines and {responses} of "
        f"{sent_in_all['responses']} usage rows sent were written (its queues drain before it exits; what is "
        f"missing was on the wire as it let go of the calls, which the provider does not send again); SIGTERM to "
        f"exit {stop_seconds:.1f} s (calls released, not ended)"
        if delays
        else f"no transcript line was recorded in the window ({lines} in all)"
    )
    return rows, detail


def rows_written(database_url):
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT (SELECT count(*) FROM speech_transcriptline), (SELECT count(*) FROM speech_responseusage)"
        ).fetchone()


def transcript_delays_ms(database_url, since, until):
    delays = []
    with psycopg.connect(database_url) as connection:
        for text, said_at in connection.execute(
            "SELECT text, said_at FROM speech_transcriptline "
            "WHERE said_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            (since, until),
        ):
            _, _, sent = text.rpartition("sent=")
            try:
                delays.append((said_at.timestamp() - float(sent)) * 1000)
            except ValueError:
                continue
    return delays


def _answers(url):
    try:
        get_json(url)
        return True
    except OSError:
        return False
