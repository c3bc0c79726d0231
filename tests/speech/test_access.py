"""Who may mint sessions for which tenant: hosts, memberships, superusers, anonymous visitors, API keys."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from settings_admin.models import KeyScope, Membership, SpeechSettings, Tenant, TenantAPIKey, TenantHostname

pytestmark = pytest.mark.django_db

ACME_HOST = "voice.acme.example"


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = ["testserver", "localhost", ACME_HOST, "api.example", "unknown.example"]


@pytest.fixture
def acme(speech_settings):
    tenant = Tenant.objects.create(slug="acme", name="Acme", shared_credentials=True)
    TenantHostname.objects.create(tenant=tenant, hostname=ACME_HOST)
    SpeechSettings.objects.create(tenant=tenant, voice="coral")
    return tenant


def post(client, body=None, host="testserver", **headers):
    return client.post(
        "/realtime_session", data=json.dumps(body or {}), content_type="application/json", HTTP_HOST=host, **headers
    )


def code(response):
    return response.json()["error"]["code"]


def api_key(tenant, **fields):
    key, raw = TenantAPIKey.objects.create_key(name="integration", tenant=tenant, **fields)
    return key, raw


# --- hosts ---------------------------------------------------------------------------


def test_a_tenants_host_gets_that_tenants_settings(client, acme, openai_mint, django_user_model):
    member = django_user_model.objects.create_user("carol")
    Membership.objects.create(user=member, tenant=acme)
    client.force_login(member)
    response = post(client, host=ACME_HOST)
    assert response.status_code == 200
    assert response.json()["voice"] == "coral"


def test_without_a_default_tenant_an_unknown_host_is_404(logged_in_client, speech_settings, settings):
    settings.SPEECH_DEFAULT_TENANT = ""
    response = post(logged_in_client, host="unknown.example")
    assert response.status_code == 404
    assert code(response) == "tenant_not_found"
    assert logged_in_client.get("/", HTTP_HOST="unknown.example").status_code == 404


# --- users ---------------------------------------------------------------------------


def test_a_member_of_another_tenant_is_refused(logged_in_client, acme, openai_mint):
    response = post(logged_in_client, host=ACME_HOST)  # alice belongs to the default tenant only
    assert response.status_code == 403
    assert code(response) == "not_a_member"
    assert len(openai_mint.calls) == 0


def test_superusers_may_act_in_any_tenant(admin_client, acme, openai_mint):
    assert post(admin_client, host=ACME_HOST).status_code == 200


def test_the_chat_page_tells_a_non_member_so(logged_in_client, acme):
    page = logged_in_client.get("/", HTTP_HOST=ACME_HOST)
    assert page.status_code == 403
    assert "not a member of Acme" in page.content.decode()


def test_anonymous_sessions_are_off_by_default(client, speech_settings, openai_mint):
    assert post(client).status_code == 401
    assert client.get("/").status_code == 302


def test_a_tenant_may_allow_anonymous_sessions(client, speech_settings, openai_mint):
    Tenant.objects.filter(pk=speech_settings.tenant_id).update(allow_anonymous_sessions=True)
    from settings_admin.selectors import settings_cache_invalidate

    settings_cache_invalidate()
    assert client.get("/").status_code == 200
    assert post(client).status_code == 200


# --- API keys -------------------------------------------------------------------------


def test_an_api_key_mints_without_csrf_or_cookies(speech_settings, openai_mint):
    _, raw = api_key(speech_settings.tenant)
    client = Client(enforce_csrf_checks=True)
    response = post(client, HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 200


def test_api_keys_are_hashed_at_rest_with_a_visible_prefix(speech_settings):
    key, raw = api_key(speech_settings.tenant)
    stored = TenantAPIKey.objects.get(pk=key.pk)
    assert raw.startswith(stored.prefix + ".")
    assert raw not in stored.hashed_key and raw not in stored.id


@pytest.mark.parametrize(
    "spoil",
    [
        lambda key, raw: ("Api-Key", raw[:-1] + ("x" if raw[-1] != "x" else "y")),
        lambda key, raw: ("Api-Key", "nonsense"),
        lambda key, raw: ("Api-Key", ""),
        lambda key, raw: ("Api-Key", TenantAPIKey.objects.filter(pk=key.pk).update(revoked=True) and raw),
        lambda key, raw: (
            "Api-Key",
            TenantAPIKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1)) and raw,
        ),
    ],
    ids=["wrong-secret", "malformed", "empty", "revoked", "expired"],
)
def test_bad_api_keys_are_refused(speech_settings, openai_mint, spoil):
    key, raw = api_key(speech_settings.tenant)
    scheme, value = spoil(key, raw)
    from settings_admin.selectors import settings_cache_invalidate

    settings_cache_invalidate()  # updates through .update() send no signal
    response = post(Client(), HTTP_AUTHORIZATION=f"{scheme} {value}")
    assert response.status_code == 401
    assert code(response) == "invalid_api_key"
    assert len(openai_mint.calls) == 0


def test_revoking_a_key_in_admin_takes_effect_at_once(speech_settings, openai_mint):
    key, raw = api_key(speech_settings.tenant)
    assert post(Client(), HTTP_AUTHORIZATION=f"Api-Key {raw}").status_code == 200
    key.revoked = True
    key.save()
    assert post(Client(), HTTP_AUTHORIZATION=f"Api-Key {raw}").status_code == 401


def test_a_key_of_tenant_a_is_refused_on_tenant_bs_host(speech_settings, acme, openai_mint):
    _, raw = api_key(speech_settings.tenant)
    response = post(Client(), host=ACME_HOST, HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 403
    assert code(response) == "api_key_wrong_tenant"
    assert len(openai_mint.calls) == 0


def test_a_key_acts_for_its_own_tenant_on_an_unlisted_host(speech_settings, acme, openai_mint):
    _, raw = api_key(acme)
    response = post(Client(), host="api.example", HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 200
    assert response.json()["voice"] == "coral"  # acme's, not the default tenant's


def test_sessions_are_audited_with_the_key_not_the_secret(speech_settings, openai_mint):
    from speech.models import SessionAudit

    key, raw = api_key(speech_settings.tenant, scope=KeyScope.SESSIONS)
    post(Client(), HTTP_AUTHORIZATION=f"Api-Key {raw}", REMOTE_ADDR="203.0.113.9")
    audit = SessionAudit.objects.get()
    assert (audit.api_key_id, audit.user_id, audit.client_ip, audit.outcome) == (key.pk, None, "203.0.113.9", "success")
    assert raw not in json.dumps(list(SessionAudit.objects.values()), default=str)


# --- one tenant per request ------------------------------------------------------------


def test_the_tenant_is_worked_out_once_per_request(logged_in_client, speech_settings, openai_mint, monkeypatch):
    from speech import tenancy

    calls = []
    resolve = tenancy.speech_settings_resolve
    monkeypatch.setattr(tenancy, "speech_settings_resolve", lambda **kw: calls.append(kw) or resolve(**kw))
    # Permissions, the four throttles, the view and CORS all ask; the middleware answers once.
    response = post(logged_in_client, HTTP_ORIGIN="https://elsewhere.example")
    assert response.status_code == 200
    assert calls == [{"host": "testserver", "api_key": None}]


def test_a_request_that_never_asks_works_out_no_tenant(client, speech_settings, monkeypatch):
    from speech import tenancy

    monkeypatch.setattr(tenancy, "speech_settings_resolve", lambda **kw: pytest.fail("resolved"))
    assert client.get("/healthz").status_code == 200
