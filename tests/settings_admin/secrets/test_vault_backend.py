"""The Vault backend against a real OpenBao dev server."""

import pytest

from settings_admin.registry import registry
from settings_admin.secrets import SecretsAuthError, SecretsError
from settings_admin.secrets import vault as vault_module
from settings_admin.secrets.vault import VaultSecretsBackend
from tests.vault_server import enable_approle, free_port

REFERENCE = "speech/tenants/acme/openai_realtime"


@pytest.fixture
def provider():
    return registry.get("openai_realtime")


@pytest.fixture
def backend(vault):
    return VaultSecretsBackend()


def test_write_read_and_delete_with_a_token(backend, provider, vault):
    assert backend.get(reference=REFERENCE, provider=provider) is None
    backend.set(reference=REFERENCE, provider=provider, value="sk-acme-1234567890")
    assert backend.get(reference=REFERENCE, provider=provider) == "sk-acme-1234567890"
    stored = vault.client().secrets.kv.v2.read_secret_version(REFERENCE, raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"api_key": "sk-acme-1234567890"}
    backend.delete(reference=REFERENCE, provider=provider)
    assert backend.get(reference=REFERENCE, provider=provider) is None
    backend.delete(reference=REFERENCE, provider=provider)  # deleting twice is fine


def test_mount_and_path_prefix_are_configurable(backend, provider, vault, settings):
    vault.client().sys.enable_secrets_engine("kv", path="gateway-kv", options={"version": "2"})
    try:
        settings.VAULT_KV_MOUNT = "gateway-kv"
        settings.VAULT_PATH_PREFIX = "/prod/"
        backend.set(reference=REFERENCE, provider=provider, value="sk-prefixed-0000")
        answer = vault.client().secrets.kv.v2.read_secret_version(
            f"prod/{REFERENCE}", mount_point="gateway-kv", raise_on_deleted_version=True
        )
        assert answer["data"]["data"]["api_key"] == "sk-prefixed-0000"
    finally:
        vault.client().sys.disable_secrets_engine("gateway-kv")


def test_a_wrong_token_is_an_auth_error_that_says_what_to_check(backend, provider, settings):
    settings.VAULT_TOKEN = "not-a-token"
    with pytest.raises(SecretsAuthError, match="Check the token"):
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)


def test_an_unreachable_server_is_a_secrets_error(provider, settings, vault):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_TIMEOUT = 1
    with pytest.raises(SecretsError) as caught:
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)
    assert not isinstance(caught.value, SecretsAuthError)


def test_approle_login_reads_and_writes(provider, settings, vault):
    role_id, secret_id = enable_approle(vault)
    settings.VAULT_AUTH_METHOD = "approle"
    settings.VAULT_TOKEN = ""
    settings.VAULT_ROLE_ID, settings.VAULT_SECRET_ID = role_id, secret_id
    backend = VaultSecretsBackend()
    backend.set(reference=REFERENCE, provider=provider, value="sk-approle-abcdef")
    assert backend.get(reference=REFERENCE, provider=provider) == "sk-approle-abcdef"


def test_a_wrong_approle_secret_is_an_auth_error(provider, settings, vault):
    role_id, _ = enable_approle(vault)
    settings.VAULT_AUTH_METHOD = "approle"
    settings.VAULT_ROLE_ID, settings.VAULT_SECRET_ID = role_id, "00000000-0000-0000-0000-000000000000"
    with pytest.raises(SecretsAuthError, match="approle login"):
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)


def test_an_expired_approle_token_is_replaced_without_a_restart(provider, settings, vault, monkeypatch):
    import time

    role_id, secret_id = enable_approle(vault, role="short", token_ttl="2s")
    settings.VAULT_AUTH_METHOD = "approle"
    settings.VAULT_ROLE_ID, settings.VAULT_SECRET_ID = role_id, secret_id
    vault.client().secrets.kv.v2.create_or_update_secret(REFERENCE, secret={"api_key": "sk-still-readable"})
    backend = VaultSecretsBackend()
    logins = []
    original = backend._log_in
    monkeypatch.setattr(backend, "_log_in", lambda client: logins.append(1) or original(client))

    assert backend.get(reference=REFERENCE, provider=provider) == "sk-still-readable"
    monkeypatch.setattr(vault_module, "RENEW_MARGIN_SECONDS", 0)
    backend._renew_at = None  # pretend the lease was unknown: only Vault's refusal tells us it expired
    time.sleep(2.5)
    assert backend.get(reference=REFERENCE, provider=provider) == "sk-still-readable"
    assert len(logins) == 2


def test_a_token_near_its_lease_end_is_renewed_before_use(provider, settings, vault, monkeypatch):
    role_id, secret_id = enable_approle(vault, role="renewing", token_ttl="1h")
    settings.VAULT_AUTH_METHOD = "approle"
    settings.VAULT_ROLE_ID, settings.VAULT_SECRET_ID = role_id, secret_id
    backend = VaultSecretsBackend()
    backend.get(reference=REFERENCE, provider=provider)
    first_token = backend._client.token
    backend._renew_at = 0  # the lease is about to end
    backend.get(reference=REFERENCE, provider=provider)
    assert backend._client.token != first_token


def test_kubernetes_login_reads_the_service_account_token(provider, settings, vault, tmp_path):
    """No cluster here: Vault refuses the login, and the error says which method failed."""
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n")
    settings.VAULT_AUTH_METHOD = "kubernetes"
    settings.VAULT_K8S_ROLE = "speech"
    settings.VAULT_K8S_TOKEN_PATH = str(token_file)
    with pytest.raises(SecretsAuthError, match="kubernetes login"):
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)


def test_an_unknown_auth_method_is_refused(provider, settings, vault):
    settings.VAULT_AUTH_METHOD = "ldap"
    with pytest.raises(SecretsAuthError, match="Unknown VAULT_AUTH_METHOD"):
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)


def test_an_unreachable_server_during_approle_login_is_a_secrets_error(provider, settings, vault):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_AUTH_METHOD = "approle"
    settings.VAULT_TIMEOUT = 1
    with pytest.raises(SecretsError) as caught:
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)
    assert not isinstance(caught.value, SecretsAuthError)


def test_a_missing_service_account_token_is_an_auth_error(provider, settings, vault, tmp_path):
    settings.VAULT_AUTH_METHOD = "kubernetes"
    settings.VAULT_K8S_TOKEN_PATH = str(tmp_path / "absent")
    with pytest.raises(SecretsAuthError, match="service account token"):
        VaultSecretsBackend().get(reference=REFERENCE, provider=provider)
