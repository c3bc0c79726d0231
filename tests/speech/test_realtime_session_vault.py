"""POST /realtime_session with credentials in a real Vault (OpenBao dev server)."""

import json
import logging

import pytest

from tests.vault_server import free_port

pytestmark = pytest.mark.django_db
VAULT_KEY = "sk-vault-held-key-9f8e7d6c"


@pytest.fixture
def key_in_vault(vault, speech_settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    vault.client().secrets.kv.v2.create_or_update_secret(
        speech_settings.credential_reference, secret={"api_key": VAULT_KEY}
    )
    return speech_settings


def post(client):
    return client.post("/realtime_session", data="{}", content_type="application/json")


def test_the_key_comes_from_vault_and_goes_only_to_the_provider(logged_in_client, key_in_vault, openai_mint):
    response = post(logged_in_client)
    assert response.status_code == 200
    assert openai_mint.calls[0].request.headers["Authorization"] == f"Bearer {VAULT_KEY}"
    assert VAULT_KEY not in response.content.decode()


def test_a_missing_secret_is_credentials_missing(logged_in_client, vault, speech_settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    response = post(logged_in_client)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "credentials_missing"


def test_a_refused_token_is_secrets_auth_failed_with_an_operator_log_line(
    logged_in_client, key_in_vault, settings, caplog
):
    settings.VAULT_TOKEN = "revoked-token"
    with caplog.at_level(logging.ERROR, logger="speech"):
        response = post(logged_in_client)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "secrets_auth_failed"
    assert "Vault refused the token token" in caplog.text
    assert "Check the token or role and its policy" in caplog.text
    assert "revoked-token" not in response.content.decode()


def test_an_unreachable_vault_without_a_cached_value_is_secrets_unavailable(
    logged_in_client, speech_settings, vault, settings
):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_TIMEOUT = 1
    response = post(logged_in_client)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "secrets_unavailable"


def test_no_key_in_responses_logs_admin_pages_or_the_database(admin_client, key_in_vault, openai_mint, caplog, capsys):
    from django.core.management import call_command

    with caplog.at_level(logging.DEBUG):
        minted = post(admin_client)
        change_page = admin_client.get(f"/admin/settings_admin/speechsettings/{key_in_vault.pk}/change/")
        tenant_page = admin_client.get(f"/admin/settings_admin/tenant/{key_in_vault.pk}/change/")
        call_command("dumpdata", "--all", format="json")
        call_command("secrets_check")
    assert minted.status_code == 200
    assert f"<strong>Resolves</strong> (…{VAULT_KEY[-4:]}), from Vault" in change_page.content.decode()
    everything = "\n".join(
        [
            minted.content.decode(),
            change_page.content.decode(),
            tenant_page.content.decode(),
            caplog.text,
            json.dumps([r.getMessage() for r in caplog.records]),
            capsys.readouterr().out,
        ]
    )
    assert VAULT_KEY not in everything
