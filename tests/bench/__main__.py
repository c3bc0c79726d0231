"""make bench: the gateway's cost over the provider's round trip, and its throughput, on this machine.

Starts two fake providers on loopback (0 ms and 300 ms), the production server configuration
(granian, config/serve.py) on PostgreSQL and Redis, then measures:
  (a) latency the gateway adds over calling the fake provider directly, p50 and p99, concurrency 1;
  (b) throughput at concurrency 64 with 300 ms provider latency, against the limit 64 / 0.3 s;
  (c) errors;  (d) each worker's resident memory.
Prints a table and writes docs/benchmark.md.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests

from tests.servers import ROOT, manage
from tests.vault_server import free_port

DATABASE = "speech_bench"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
REPORT = ROOT / "docs" / "benchmark.md"
# The targets were set on a machine where a pooled requests call to a loopback stub (the direct call
# here) took about this long; the ratio says how this machine compares.
REFERENCE_DIRECT_MS = 0.5
SETUP = """
from settings_admin.models import SpeechSettings, Tenant, TenantAPIKey
for slug, port in (("fast", {fast}), ("slow", {slow})):
    tenant, _ = Tenant.objects.update_or_create(slug=slug, defaults=dict(
        name=slug, shared_credentials=True, rate_limit_user="", rate_limit_anonymous="",
        rate_limit_api_key="{rate}", rate_limit_tenant="{rate}"))
    SpeechSettings.objects.update_or_create(tenant=tenant, defaults=dict(
        provider="openai_realtime", model="gpt-realtime", voice="verse",
        endpoint=f"{scheme}://127.0.0.1:{{port}}/v1/realtime/client_secrets"))
    print(slug, TenantAPIKey.objects.create_key(name="bench", tenant=tenant)[1])
"""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def wait_until_up(url, verify=True, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1, verify=verify)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def fresh_database():
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return f"{POSTGRES}/{DATABASE}"


def self_signed_certificate(folder):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert), str(key_file)


def timed_call(session, url, **kwargs):
    started = time.perf_counter()
    response = session.post(url, timeout=30, **kwargs)
    return (time.perf_counter() - started) * 1000, response.status_code != 200


def paired_calls(direct, direct_url, through, gateway_url, count):
    """Calls to the provider and through the gateway, alternating, so both meet the same machine.

    The machine's speed drifts from minute to minute; two blocks run one after the other would
    measure that drift along with the gateway.
    """
    direct_ms, gateway_ms, errors = [], [], 0
    for _ in range(count):
        elapsed, failed = timed_call(direct, direct_url, json={"session": {"type": "realtime"}})
        direct_ms.append(elapsed)
        errors += failed
        elapsed, failed = timed_call(through, gateway_url, json={})
        gateway_ms.append(elapsed)
        errors += failed
    return direct_ms, gateway_ms, errors


def python_speed_ms():
    """How long this machine takes right now for a fixed pure-Python loop (median of five).

    The gateway's cost is Python work, so its figures scale with this one; the machine's speed drifts
    (on the 2-core machine here, by up to three times within an hour), and this says how fast it was.
    """
    times = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def worker_rss_mb(master_pid):
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tls", action="store_true", help="the fake provider speaks HTTPS (self-signed)")
    parser.add_argument("--requests", type=int, default=1000, help="request pairs for the latency measurement")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--provider-latency-ms", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=15, help="length of the throughput run")
    parser.add_argument(
        "--rate-limits", action="store_true",
        help="count every session against per-key and per-tenant limits (set too high to trip): their cost",
    )  # fmt: skip
    parser.add_argument("--no-report", action="store_true", help="print only; do not write docs/benchmark.md")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="bench-")
    processes = []
    scheme = "https" if args.tls else "http"
    tls_args, env_tls = [], {}
    if args.tls:
        cert, key = self_signed_certificate(folder)
        tls_args = ["--tls-cert", cert, "--tls-key", key]
        env_tls = {"REQUESTS_CA_BUNDLE": cert}
    try:
        ports = {"fast": free_port(), "slow": free_port(), "gateway": free_port()}
        for name, latency in (("fast", 0), ("slow", args.provider_latency_ms)):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.bench.fake_provider", "--port", str(ports[name]),
                 "--latency-ms", str(latency), *tls_args], cwd=ROOT,
            ))  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": fresh_database(),
            "REDIS_URL": REDIS,
            "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "OPENAI_API_KEY": "sk-bench-server-key",
            "SPEECH_ALLOWED_ENDPOINT_HOSTS": f"127.0.0.1:{ports['fast']},127.0.0.1:{ports['slow']}",
            "STATIC_FROM_SOURCE": "false",
            "SPEECH_AUDIT_ASYNC": "true",  # as make serve runs it
            "PROMETHEUS_MULTIPROC_DIR": str(Path(folder) / "prometheus"),
            "BIND": f"127.0.0.1:{ports['gateway']}",
            **env_tls,
        }
        subprocess.run(["redis-cli", "-u", REDIS, "flushdb"], check=False, capture_output=True)
        manage(env, "migrate", "--noinput")
        printed = manage(
            env,
            "shell",
            "-c",
            SETUP.format(
                fast=ports["fast"], slow=ports["slow"], scheme=scheme, rate="1000000/m" if args.rate_limits else ""
            ),
        )
        keys = dict(line.split() for line in printed.splitlines() if line.startswith(("fast ", "slow ")))
        server = subprocess.Popen(
            [sys.executable, "-m", "config.serve"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(server)
        gateway = f"http://127.0.0.1:{ports['gateway']}/api/v1/realtime_session"
        wait_until_up(f"http://127.0.0.1:{ports['gateway']}/healthz")
        for name in ("fast", "slow"):
            wait_until_up(f"{scheme}://127.0.0.1:{ports[name]}/", verify=env_tls.get("REQUESTS_CA_BUNDLE", True))

        # (a) latency added at concurrency 1: the same client, pooled, through the gateway and direct.
        direct_url = f"{scheme}://127.0.0.1:{ports['fast']}/v1/realtime/client_secrets"
        direct = requests.Session()
        direct.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides direct.verify
        direct.verify = env_tls.get("REQUESTS_CA_BUNDLE", True)
        through = requests.Session()
        through.headers["Authorization"] = f"Api-Key {keys['fast']}"
        paired_calls(direct, direct_url, through, gateway, 50)  # warm up both paths
        speed_before = python_speed_ms()
        direct_ms, gateway_ms, latency_errors = paired_calls(direct, direct_url, through, gateway, args.requests)
        speed_after = python_speed_ms()
        direct_p50 = statistics.median(direct_ms)
        added_p50 = statistics.median(gateway_ms) - direct_p50
        added_p99 = percentile(gateway_ms, 0.99) - percentile(direct_ms, 0.99)

        # (b) throughput at concurrency N with the slow provider.
        def worker(deadline):
            session = requests.Session()
            session.headers["Authorization"] = f"Api-Key {keys['slow']}"
            done = failed = 0
            while time.monotonic() < deadline:
                try:
                    ok = session.post(gateway, json={}, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                done += ok
                failed += not ok
            return done, failed

        with ThreadPoolExecutor(args.concurrency) as pool:  # a short warm-up opens the connections
            list(pool.map(worker, [time.monotonic() + 2] * args.concurrency))
            started = time.monotonic()
            results = list(pool.map(worker, [started + args.seconds] * args.concurrency))
            elapsed = time.monotonic() - started
        completed = sum(done for done, _ in results)
        throughput_errors = sum(failed for _, failed in results)
        throughput = completed / elapsed
        limit = args.concurrency / (args.provider_latency_ms / 1000)
        memory = worker_rss_mb(server.pid)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(20)
        shutil.rmtree(folder, ignore_errors=True)

    errors = latency_errors + throughput_errors
    rows = [
        ("added latency p50 (c=1)", f"{added_p50:.2f} ms", "<= 2 ms", added_p50 <= 2),
        ("added latency p99 (c=1)", f"{added_p99:.2f} ms", "<= 10 ms", added_p99 <= 10),
        (f"throughput (c={args.concurrency}, provider {args.provider_latency_ms:.0f} ms)",
         f"{throughput:.1f}/s = {throughput / limit:.1%} of {limit:.0f}/s", ">= 90%", throughput / limit >= 0.9),
        ("errors", str(errors), "0", errors == 0),
        ("worker memory (RSS)", ", ".join(f"{m:.0f} MB" for m in memory), "<= 120 MB each",
         bool(memory) and max(memory) <= 120),
    ]  # fmt: skip
    detail = (
        f"direct p50 {direct_p50:.2f} ms, p99 {percentile(direct_ms, 0.99):.2f} ms; "
        f"through the gateway p50 {statistics.median(gateway_ms):.2f} ms, p99 {percentile(gateway_ms, 0.99):.2f} ms "
        f"({args.requests} of each, alternating); "
        f"{completed} sessions in {elapsed:.1f} s at concurrency {args.concurrency}; "
        f"machine speed: a 1M-step Python loop took {speed_before:.0f} ms before the latency runs and "
        f"{speed_after:.0f} ms after (lower is faster); the direct call took {direct_p50:.2f} ms against "
        f"{REFERENCE_DIRECT_MS} ms on the machine the targets were set on, so at that machine's speed the "
        f"added p50 would be about {added_p50 * REFERENCE_DIRECT_MS / direct_p50:.2f} ms"
    )
    table = ["| measure | result | target | met |", "| --- | --- | --- | --- |"]
    table += [f"| {name} | {value} | {target} | {'yes' if ok else 'NO'} |" for name, value, target, ok in rows]
    print("\n".join(table))
    print(detail)
    if not args.no_report:
        REPORT.write_text(
            "# Benchmark\n\n"
            f"`make bench` on {platform.machine()}, {os.cpu_count()} cores, "
            f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; fake provider over {scheme.upper()} on "
            "loopback; granian with `config/serve.py` (2 workers x 64 threads) on PostgreSQL and Redis, "
            "audit rows written by the background writer and an access log line per request, as under `make serve`; "
            "every request authenticated by an API key, resolved, logged, audited and counted in the metrics; "
            + ("per-key and per-tenant rate limits counted in Redis" if args.rate_limits else "no rate limits set")
            + ". Direct and gateway calls alternate, so drift in the machine's speed meets both.\n\n"
            + "\n".join(table)
            + f"\n\n{detail}.\n\nVariants: `make bench BENCH_ARGS=--tls` (the provider behind TLS) and "
            "`BENCH_ARGS=--rate-limits` (each rate limit adds its counter updates in Redis). The machine's speed "
            "drifts from minute to minute here (the loop figure above says how fast it ran); run it a few times before "
            "comparing figures.\n\n"
            "The browser's Connect-to-connected time with the local provider is measured by the "
            "e2e suite (`tests/e2e/test_voice_loop.py::test_connect_time_over_ten_runs`, printed and written to "
            "`test-artifacts/e2e-measurements.txt`).\n"
        )
        print(f"written to {REPORT.relative_to(ROOT)}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
