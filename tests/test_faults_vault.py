"""Vault stops under a running gateway: once no cached key may bridge it, mints answer 503
secrets_unavailable in JSON, and secrets_check says which tenant's key does not resolve."""

import subprocess
import sys

import requests

from tests.parts import OPENAI_TENANT, fake_openai, server_env
from tests.servers import ROOT, manage, start_server
from tests.vault_server import ROOT_TOKEN, free_port, start_vault


def test_mint_answers_secrets_unavailable_when_vault_stops(tmp_path):
    vault = start_vault()
    port = free_port()
    try:
        vault.client().secrets.kv.v2.create_or_update_secret(
            path="speech/tenants/default/openai_realtime", secret={"api_key": "sk-faults-vault-key-0123456789"}
        )
        env = server_env(
            tmp_path,
            VAULT_ADDR=vault.addr,
            VAULT_TOKEN=ROOT_TOKEN,
            # No cached key bridges the outage: every mint reads Vault.
            SPEECH_SECRETS_CACHE_SECONDS="0",
            SPEECH_SECRETS_STALE_SECONDS="0",
        )
        with fake_openai() as endpoint:
            manage(env, "migrate", "--noinput")
            tenant = OPENAI_TENANT.format(rate="", provider="openai_realtime", endpoint=endpoint)
            raw_key = manage(env, "shell", "-c", tenant).strip().splitlines()[-1]
            server = start_server(env, port)
            try:

                def mint():
                    return requests.post(
                        f"http://127.0.0.1:{port}/api/v1/realtime_session", json={},
                        headers={"Authorization": f"Api-Key {raw_key}"}, timeout=20,
                    )  # fmt: skip

                assert mint().status_code == 200
                vault.stop()
                answer = mint()
                assert answer.status_code == 503, answer.text
                assert answer.headers["Content-Type"] == "application/json"
                assert answer.json()["error"]["code"] == "secrets_unavailable"
            finally:
                server.terminate()
                server.wait(10)
        check = subprocess.run(
            [sys.executable, "manage.py", "secrets_check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 1
        assert "unavailable" in check.stdout and "Traceback" not in check.stderr, check.stderr
    finally:
        vault.stop()
