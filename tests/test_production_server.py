"""The production configuration (make serve): granian with two threaded workers, metrics added up across them,
audit rows written in the background and still written when the server stops."""

import re
from types import SimpleNamespace

import pytest
import requests

from tests.servers import manage, production_env, start_production_server
from tests.vault_server import free_port

MAKE_KEY = """
from settings_admin.models import Tenant, TenantAPIKey
tenant = Tenant.objects.get(slug="default")
tenant.rate_limit_api_key = tenant.rate_limit_tenant = ""
tenant.save()
print(TenantAPIKey.objects.create_key(name="ops", tenant=tenant)[1])
"""


@pytest.fixture
def server(tmp_path, local_service):
    port = free_port()
    env = production_env(
        tmp_path,
        port,
        **local_service.gateway_env,
        # The test sends 8 mints of one tenant at once (the default would be a quarter of WEB_THREADS).
        SPEECH_PROVIDER_CALLS_PER_TENANT=8,
        SPEECH_AUDIT_ASYNC="true",
    )
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    raw_key = manage(env, "shell", "-c", MAKE_KEY).strip().splitlines()[-1]
    process = start_production_server(env)
    base = f"http://127.0.0.1:{port}"
    yield SimpleNamespace(base=base, raw_key=raw_key, metrics_dir=tmp_path / "prometheus", env=env, process=process)
    process.terminate()
    process.wait(40)


def metric(text, name, **labels):
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))).strip(",") == wanted:
            return float(match.group(2))
    return 0.0


def mint(server, body=None):
    return requests.post(
        f"{server.base}/api/v1/realtime_session", json=body or {},
        headers={"Authorization": f"Api-Key {server.raw_key}"}, timeout=10,
    ).status_code  # fmt: skip


def test_metrics_add_up_across_two_workers(server):
    from concurrent.futures import ThreadPoolExecutor

    base, metrics_dir = server.base, server.metrics_dir

    def writers():
        return {path.name.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        # Which worker accepts a connection is the kernel's choice: send until both have served.
        while (len(writers()) < 2 or sent < 12) and sent < 400:
            assert set(pool.map(lambda _: mint(server), range(8))) == {200}
            sent += 8
    assert len(writers()) == 2, "both workers should have served requests"
    assert mint(server, {"voice": "nope"}) == 400
    for report in ({"outcome": "connected", "connect_ms": 240}, {"outcome": "failed", "stage": "ice"}):
        assert requests.post(f"{base}/api/v1/telemetry/connect", json=report, timeout=10).status_code == 204

    text = requests.get(f"{base}/metrics", timeout=10).text
    labels = {"tenant": "default", "provider": "local"}
    assert metric(text, "realtime_sessions_total", **labels, outcome="success") == sent
    assert metric(text, "realtime_sessions_total", **labels, outcome="failure") == 1
    assert metric(text, "realtime_session_failures_total", **labels, reason="voice_not_allowed") == 1
    assert metric(text, "realtime_session_create_seconds_count") == sent + 1
    assert metric(text, "realtime_provider_upstream_seconds_count", provider="local") == sent
    assert metric(text, "realtime_webrtc_connect_seconds_count") == 1
    assert metric(text, "realtime_webrtc_failures_total", stage="ice") == 1


def test_static_files_are_served_collected_and_hashed(server):
    base = server.base
    page = requests.get(f"{base}/login/", timeout=10).text
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page)
    assert css, page
    response = requests.get(base + css.group(1), timeout=10)
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]


def test_audit_rows_still_queued_are_written_when_the_server_stops(server):
    for _ in range(5):
        assert mint(server) == 200
    # The background writer gathers rows for 0.2 s before it writes: stop the server at once.
    server.process.terminate()
    assert server.process.wait(40) == 0
    printed = manage(server.env, "shell", "-c", "from speech.models import SessionAudit as A; print(A.objects.count())")
    assert printed.strip().splitlines()[-1] == "5"
