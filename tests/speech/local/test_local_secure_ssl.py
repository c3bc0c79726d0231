"""With SECURE_SSL=true (HTTPS redirects on), the gateway still reaches its local provider (a service of its own)
over http:// on loopback: a real server process mints a local session end to end, and the offer is answered."""

import asyncio
import sys
from pathlib import Path

import requests

from tests.servers import manage, start_server
from tests.speech.local.rtc_client import offer_sdp
from tests.vault_server import free_port

MAKE_KEY = """
from settings_admin.models import Tenant, TenantAPIKey
tenant = Tenant.objects.get(slug="default")
assert tenant.speech_settings.provider == "local", tenant.speech_settings.provider
print(TenantAPIKey.objects.create_key(name="tls", tenant=tenant)[1])
"""


def test_a_local_session_is_minted_and_answered_with_secure_ssl_on(tmp_path, local_service):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "secure-ssl-test-secret-key-0123456789abcdefghijkl",
        **local_service.gateway_env,
        "SECURE_SSL": "true",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    }
    manage(env, "migrate", "--noinput")
    raw_key = manage(env, "shell", "-c", MAKE_KEY).strip().splitlines()[-1]
    process = start_server(env, port)
    try:
        # Plain http to the site is still redirected to https ...
        assert requests.get(f"{base}/login/", timeout=10, allow_redirects=False).status_code == 301
        # ... while a client behind the TLS proxy mints, through the gateway's http:// mint to the local service.
        minted = requests.post(
            f"{base}/api/v1/realtime_session", json={}, timeout=20,
            headers={"Authorization": f"Api-Key {raw_key}", "X-Forwarded-Proto": "https"},
        )  # fmt: skip
        assert minted.status_code == 200, minted.text
        body = minted.json()
        assert body["provider"] == "local"
        secret = body["client_secret"]["value"]
        answered = requests.post(
            body["webrtc"]["url"], data=asyncio.run(offer_sdp()), timeout=20, allow_redirects=False,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"},
        )  # fmt: skip
        assert answered.status_code == 201, answered.text
        assert body["webrtc"]["url"].startswith(local_service.v1)
        hung_up = requests.post(
            f"{local_service.url}{answered.headers['Location']}/hangup", timeout=10, allow_redirects=False,
            headers={"Authorization": f"Bearer {secret}"},
        )  # fmt: skip
        assert hung_up.status_code == 200
    finally:
        process.terminate()
        process.wait(10)
