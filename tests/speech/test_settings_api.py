"""The integrator API: providers, the tenant's speech settings, and a user's preferences."""

import json

import pytest
from django.test import Client

from settings_admin.models import KeyScope, Membership, Role, SettingsChange, TenantAPIKey

pytestmark = pytest.mark.django_db


def call(client, method, path, body=None, **headers):
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(path, data=data, content_type="application/json", **headers)


@pytest.fixture
def tenant_admin_client(speech_settings, django_user_model):
    admin = django_user_model.objects.create_user("dana")
    Membership.objects.create(user=admin, tenant=speech_settings.tenant, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def admin_key(speech_settings):
    return TenantAPIKey.objects.create_key(name="ops", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]


def test_providers_come_from_the_registry_with_their_option_schemas(client):
    providers = {p["id"]: p for p in client.get("/api/v1/providers").json()}
    openai = providers["openai_realtime"]
    assert openai["default_endpoint"] == "https://api.openai.com/v1/realtime/client_secrets"
    assert "marin" in openai["voices"] and "gpt-realtime-2" in openai["models"]
    assert openai["options"]["properties"]["speed"] == {"type": "number", "minimum": 0.25, "maximum": 1.5}
    assert openai["options"]["properties"]["noise_reduction"]["enum"] == ["near_field", "far_field"]
    local_speed = providers["local"]["options"]["properties"]["speed"]
    assert (local_speed["minimum"], local_speed["maximum"]) == (0.25, 1.5) and "espeak-ng" in local_speed["description"]


def test_tenant_admins_read_the_effective_settings_without_the_key(tenant_admin_client):
    response = tenant_admin_client.get("/api/v1/settings/speech")
    body = response.json()
    assert response.status_code == 200
    assert body["endpoint"] == "https://api.openai.com/v1/realtime/client_secrets"
    assert body["allowed_models"] == ["gpt-realtime"]
    assert body["credential"] == "set"
    assert "sk-" not in response.content.decode()


def test_a_missing_key_reads_as_not_set(tenant_admin_client, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    assert tenant_admin_client.get("/api/v1/settings/speech").json()["credential"] == "not_set"


def test_tenant_admins_change_settings_validated_like_the_admin_and_audited(tenant_admin_client, speech_settings):
    response = call(
        tenant_admin_client, "patch", "/api/v1/settings/speech",
        {"voice": "marin", "allowed_voices": ["marin", "verse"], "options": {"speed": 1.1}},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["voice"] == "marin"
    speech_settings.refresh_from_db()
    assert speech_settings.options == {"speed": 1.1}
    change = SettingsChange.objects.get()
    assert change.user.username == "dana"
    assert change.changes["voice"] == ["verse", "marin"]


def test_invalid_changes_are_field_errors_and_change_nothing(tenant_admin_client, speech_settings):
    response = call(
        tenant_admin_client, "patch", "/api/v1/settings/speech",
        {"voice": "marin", "model": "local-echo", "options": {"speed": 9}},
    )  # fmt: skip
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "not a model of OpenAI Realtime" in fields["model"][0]
    assert any("speed" in message for message in fields["options"])
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "verse"
    assert not SettingsChange.objects.exists()
    # The refused change was tried on a copy: the settings this process caches and serves are as they were.
    assert call(tenant_admin_client, "get", "/api/v1/settings/speech").json()["voice"] == "verse"


def test_a_new_provider_brings_its_defaults(tenant_admin_client):
    body = call(tenant_admin_client, "patch", "/api/v1/settings/speech", {"provider": "local"}).json()
    assert (body["provider"], body["model"], body["voice"]) == ("local", "local-echo", "verse")


def test_admin_scoped_api_keys_may_change_settings(speech_settings, admin_key):
    response = call(Client(), "patch", "/api/v1/settings/speech", {"instructions": "Be brief."},
                    HTTP_AUTHORIZATION=f"Api-Key {admin_key}")  # fmt: skip
    assert response.status_code == 200
    assert SettingsChange.objects.get().api_key_prefix == admin_key.split(".")[0]


def test_session_scoped_keys_and_members_may_not(speech_settings, logged_in_client):
    _, raw = TenantAPIKey.objects.create_key(name="s", tenant=speech_settings.tenant, scope=KeyScope.SESSIONS)
    by_key = call(Client(), "patch", "/api/v1/settings/speech", {"voice": "ash"}, HTTP_AUTHORIZATION=f"Api-Key {raw}")
    by_member = call(logged_in_client, "patch", "/api/v1/settings/speech", {"voice": "ash"})
    assert (by_key.status_code, by_key.json()["error"]["code"]) == (403, "api_key_scope")
    assert (by_member.status_code, by_member.json()["error"]["code"]) == (403, "not_a_member")
    assert call(Client(), "get", "/api/v1/settings/speech").status_code == 401


# --- preferences ------------------------------------------------------------------------------


def test_my_preferences_start_from_the_tenants_defaults(logged_in_client, speech_settings):
    body = logged_in_client.get("/api/v1/settings/me").json()
    assert (body["voice"], body["model"], body["turn_mode"], body["tenant_admin"]) == (
        "verse", "gpt-realtime", "voice_activity", False,
    )  # fmt: skip
    assert "cedar" in body["allowed_voices"]


def test_a_chosen_voice_is_used_by_my_next_session(logged_in_client, speech_settings, openai_mint):
    response = call(logged_in_client, "put", "/api/v1/settings/me", {"voice": "cedar", "turn_mode": "push_to_talk"})
    assert response.status_code == 200
    assert (response.json()["voice"], response.json()["turn_mode"]) == ("cedar", "push_to_talk")
    minted = call(logged_in_client, "post", "/realtime_session", {})
    assert minted.json()["voice"] == "cedar"
    assert json.loads(openai_mint.calls[0].request.body)["session"]["audio"]["output"]["voice"] == "cedar"


def test_a_voice_the_tenant_does_not_allow_cannot_be_chosen(logged_in_client, speech_settings):
    speech_settings.allowed_voices = ["verse", "marin"]
    speech_settings.save()
    response = call(logged_in_client, "put", "/api/v1/settings/me", {"voice": "cedar"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["voice"] == ["This voice is not allowed for this tenant."]


def test_a_model_the_tenant_does_not_allow_cannot_be_chosen(logged_in_client, speech_settings):
    response = call(logged_in_client, "put", "/api/v1/settings/me", {"model": "gpt-realtime-mini"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")
    assert response.json()["error"]["fields"]["model"] == ["This model is not allowed for this tenant."]


def test_a_preference_the_tenant_later_forbids_falls_back_to_its_default(
    logged_in_client, speech_settings, openai_mint
):
    call(logged_in_client, "put", "/api/v1/settings/me", {"voice": "cedar"})
    speech_settings.allowed_voices = ["verse", "marin"]
    speech_settings.save()
    assert call(logged_in_client, "post", "/realtime_session", {}).json()["voice"] == "verse"
    assert logged_in_client.get("/api/v1/settings/me").json()["voice"] == "verse"


def test_preferences_belong_to_people_not_keys(speech_settings, admin_key):
    assert Client().get("/api/v1/settings/me", HTTP_AUTHORIZATION=f"Api-Key {admin_key}").status_code == 401
