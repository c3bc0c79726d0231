from settings_admin.registry import registry
from settings_admin.secrets.env import EnvironmentSecretsBackend


def test_each_provider_reads_its_own_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-1234")
    backend = EnvironmentSecretsBackend()
    assert backend.get(reference="speech/tenants/x/openai_realtime", provider=registry.get("openai_realtime")) == (
        "sk-from-env-1234"
    )


def test_a_missing_variable_is_none(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert EnvironmentSecretsBackend().get(reference="r", provider=registry.get("openai_realtime")) is None


def test_it_holds_no_key_of_the_local_provider(monkeypatch):
    monkeypatch.setenv("LOCAL_REALTIME_API_KEY", "sk-local-master-key")
    assert EnvironmentSecretsBackend().get(reference="r", provider=registry.get("local")) is None


def test_it_is_shared_by_every_tenant_granted_it():
    assert EnvironmentSecretsBackend.shared is True


def test_each_tenant_gets_its_own_local_key(monkeypatch):
    from speech.local.accounts import key_account
    from speech.providers.local import local_api_key

    local = registry.get("local")
    acme = local.fallback_credential(reference="speech/tenants/acme/local")
    globex = local.fallback_credential(reference="speech/tenants/globex/local")
    assert acme != globex
    assert key_account(master=local_api_key(), key=acme) == "acme"
    assert key_account(master=local_api_key(), key=globex) == "globex"


def test_a_local_key_in_the_environment_is_not_handed_to_every_tenant(monkeypatch, settings):
    monkeypatch.setenv("LOCAL_REALTIME_API_KEY", "sk-operators-master-key")
    settings.LOCAL_REALTIME_API_KEY = "sk-operators-master-key"
    backend, local = EnvironmentSecretsBackend(), registry.get("local")
    assert backend.get(reference="speech/tenants/acme/local", provider=local) is None
    key = registry.get("local").fallback_credential(reference="speech/tenants/acme/local")
    assert key != "sk-operators-master-key"
    assert key.startswith("sk-local-acme-")


def test_it_is_read_only():
    assert EnvironmentSecretsBackend.writable is False
