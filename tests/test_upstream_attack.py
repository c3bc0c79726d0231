"""The production server (granian, config.serve) under a tenant whose provider trickles its answer:
health checks and the other tenants keep being served while the attack runs."""

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.hostile_upstream import HostileUpstream
from tests.servers import manage, start_production_server
from tests.vault_server import free_port

DEADLINE = 3
ATTACKERS = 48
SETUP = """
from settings_admin.models import SpeechSettings, Tenant, TenantAPIKey

def tenant(slug, endpoint):
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={{"name": slug, "shared_credentials": True}})
    tenant.rate_limit_api_key = tenant.rate_limit_tenant = ""
    tenant.save()
    SpeechSettings.objects.get_or_create(tenant=tenant)
    SpeechSettings.objects.filter(tenant=tenant).update(
        provider="openai_realtime", model="gpt-realtime", voice="verse", endpoint=endpoint)
    return TenantAPIKey.objects.create_key(name="keys", tenant=tenant)[1]

print(tenant("default", "{attacker}"), tenant("other", "{other}"))
"""


@pytest.fixture
def attacked(tmp_path):
    with HostileUpstream() as upstream:
        port = free_port()
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "SECRET_KEY": "upstream-attack-test-secret-key-0123456789abcdefghij",
            "OPENAI_API_KEY": "sk-test-server-key-0123456789abcdef",
            "SPEECH_ALLOWED_ENDPOINT_HOSTS": "127.0.0.1",
            "SPEECH_PROVIDER_DEADLINE_SECONDS": str(DEADLINE),
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "16",  # so 4 provider calls per tenant and 12 in all, by default
            "ACCESS_LOG": "false",
        }
        manage(env, "migrate", "--noinput")
        setup = SETUP.format(attacker=upstream.endpoint("trickle-head"), other=upstream.endpoint("ok"))
        attacker_key, other_key = manage(env, "shell", "-c", setup).strip().splitlines()[-1].split()
        process = start_production_server(env)
        base = f"http://127.0.0.1:{port}"
        try:
            yield base, upstream, attacker_key, other_key
        finally:
            upstream.stop.set()  # frees the server's threads (old code) before it is asked to stop
            process.terminate()
            process.wait(40)


def mint(base, key, timeout):
    started = time.monotonic()
    try:
        response = requests.post(
            f"{base}/api/v1/realtime_session", json={}, headers={"Authorization": f"Api-Key {key}"}, timeout=timeout
        )
    except requests.Timeout:
        return None, time.monotonic() - started
    return response, time.monotonic() - started


def prompt(call):
    """Status of `call()` and its seconds; status None when it got no answer within its timeout."""
    started = time.monotonic()
    try:
        status = call().status_code
    except requests.Timeout:
        status = None
    return status, time.monotonic() - started


def test_health_and_other_tenants_are_served_while_a_tenant_provider_trickles(attacked):
    base, upstream, attacker_key, other_key = attacked
    with ThreadPoolExecutor(ATTACKERS) as pool:
        attack = [pool.submit(mint, base, attacker_key, DEADLINE + 10) for _ in range(ATTACKERS)]
        limit = time.monotonic() + 5
        while len(upstream.requests) < 4 and time.monotonic() < limit:  # the attack holds what it can
            time.sleep(0.05)
        time.sleep(0.3)

        health = prompt(lambda: requests.get(f"{base}/healthz", timeout=2))
        other, other_seconds = mint(base, other_key, 2)
        answers = [future.result() for future in attack]

    assert health[0] == 200 and health[1] < 1, f"/healthz: {health}"
    assert other is not None and other.status_code == 200 and other_seconds < 1, "the other tenant's mint"
    codes = sorted({response.json()["error"]["code"] for response, _ in answers if response is not None})
    assert codes == ["provider_calls_limited", "provider_timeout"], codes
    assert all(response is not None and seconds < DEADLINE + 2 for response, seconds in answers)
    limited = [response for response, _ in answers if response.status_code == 429]
    assert len(limited) >= ATTACKERS - 4 and all(r.headers["Retry-After"] == "1" for r in limited)
    assert upstream.requests.count("trickle-head") <= 4
