"""Follow-ups of the attack review: writes are rate limited and invalidate nothing they need not, anonymous
counters cannot be flooded out of the cache, a deactivated tenant's host serves no one, and /readyz tells
the public no detail."""

import json

import pytest
from django.test import Client

from settings_admin.models import KeyScope, Membership, Role, Tenant, TenantAPIKey, TenantHostname, UserPreference
from settings_admin.selectors import settings_generation

pytestmark = pytest.mark.django_db


def put_preference(client, voice):
    return client.put("/api/v1/settings/me", data=json.dumps({"voice": voice}), content_type="application/json")


def test_saving_a_preference_leaves_every_tenants_cache_alone(logged_in_client, speech_settings):
    before = settings_generation()
    assert put_preference(logged_in_client, "ash").status_code == 200
    assert settings_generation() == before
    assert UserPreference.objects.get().voice == "ash"


def test_a_saved_preference_shapes_the_next_session_at_once(logged_in_client, speech_settings, openai_mint):
    logged_in_client.post("/realtime_session", data="{}", content_type="application/json")  # warm every cache
    put_preference(logged_in_client, "marin")
    response = logged_in_client.post("/realtime_session", data="{}", content_type="application/json")
    assert response.json()["voice"] == "marin"


def test_preference_writes_are_rate_limited_per_user(logged_in_client, speech_settings, settings):
    settings.SPEECH_SETTINGS_WRITE_RATE = "3/m"
    statuses = [put_preference(logged_in_client, "ash").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert logged_in_client.get("/api/v1/settings/me").status_code == 200  # reading is not counted


def test_settings_writes_are_rate_limited_per_api_key(speech_settings, settings):
    settings.SPEECH_SETTINGS_WRITE_RATE = "2/m"
    raw = TenantAPIKey.objects.create_key(name="ops", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    def patch():
        return client.patch("/api/v1/settings/speech", data='{"voice": "ash"}', content_type="application/json")

    answers = [patch() for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in answers[-1]


def test_a_flood_of_anonymous_counters_does_not_reset_a_keys_limit(speech_settings, openai_mint, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    tenant = speech_settings.tenant
    tenant.rate_limit_api_key = "3/m"
    tenant.save()
    raw = TenantAPIKey.objects.create_key(name="limited", tenant=tenant)[1]
    keyed = Client(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    def mint():
        return keyed.post("/api/v1/realtime_session", data="{}", content_type="application/json").status_code

    assert [mint() for _ in range(4)] == [200, 200, 200, 429]
    anonymous = Client()
    for number in range(1000):  # one /64 of IPv6 addresses: they count as one client
        anonymous.post(
            "/api/v1/telemetry/connect",
            data='{"outcome": "connected", "connect_ms": 100}',
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=f"2001:db8:1:2::{number:x}",
        )
    assert mint() == 429


def test_ipv6_clients_are_counted_by_their_64(rf):
    from speech.throttling import client_network

    request = rf.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert client_network(request) == "2001:db8:1:2::/64"
    assert client_network(rf.get("/", REMOTE_ADDR="192.0.2.7")) == "192.0.2.7"


def test_a_deactivated_tenants_host_serves_no_one(speech_settings, django_user_model, settings):
    settings.ALLOWED_HOSTS = ["testserver", "voice.acme.example"]
    acme = Tenant.objects.create(slug="acme", name="Acme", is_active=False)
    TenantHostname.objects.create(tenant=acme, hostname="voice.acme.example")
    user = django_user_model.objects.create_user("bob")
    Membership.objects.create(user=user, tenant=speech_settings.tenant, role=Role.MEMBER)
    client = Client()
    client.force_login(user)
    response = client.post(
        "/realtime_session", data="{}", content_type="application/json", HTTP_HOST="voice.acme.example"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_readyz_tells_the_public_only_what_failed(client, speech_settings, settings, caplog):
    settings.SPEECH_SECRETS_BACKEND = "settings_admin.secrets.vault.VaultSecretsBackend"
    settings.VAULT_ADDR = "http://127.0.0.1:9"  # nothing listens there
    settings.VAULT_TOKEN = "root-token-detail"
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["secrets"] == "failed: unavailable"
    assert "Vault cannot be reached" not in answer.content.decode()
    assert "Vault cannot be reached" in caplog.text  # the operator still finds the detail in the log
