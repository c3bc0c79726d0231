"""CORS, rate limits, audit, security headers and request hygiene."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from settings_admin.models import Tenant, TenantAPIKey
from settings_admin.selectors import settings_cache_invalidate
from speech.models import SessionAudit

pytestmark = pytest.mark.django_db

TRUSTED = "https://app.customer.example"


def post(client, body=None, **headers):
    return client.post("/realtime_session", data=json.dumps(body or {}), content_type="application/json", **headers)


def code(response):
    return response.json()["error"]["code"]


def set_tenant(speech_settings, **fields):
    Tenant.objects.filter(pk=speech_settings.tenant_id).update(**fields)
    settings_cache_invalidate()


# --- CORS ------------------------------------------------------------------------------


def test_a_tenants_trusted_origin_gets_cors_headers(logged_in_client, speech_settings, openai_mint):
    set_tenant(speech_settings, allowed_origins=[TRUSTED])
    response = post(logged_in_client, HTTP_ORIGIN=TRUSTED)
    assert response["Access-Control-Allow-Origin"] == TRUSTED


def test_an_untrusted_origin_gets_none(logged_in_client, speech_settings, openai_mint):
    set_tenant(speech_settings, allowed_origins=[TRUSTED])
    response = post(logged_in_client, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_from_a_trusted_origin_allows_the_api_key_header(speech_settings):
    set_tenant(speech_settings, allowed_origins=[TRUSTED])
    response = Client().options(
        "/realtime_session",
        HTTP_ORIGIN=TRUSTED,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == TRUSTED
    assert "authorization" in response["Access-Control-Allow-Headers"]


def test_the_global_list_from_the_environment_is_trusted_too(logged_in_client, speech_settings, openai_mint, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://everywhere.example"]
    response = post(logged_in_client, HTTP_ORIGIN="https://everywhere.example")
    assert response["Access-Control-Allow-Origin"] == "https://everywhere.example"


def test_pages_other_than_the_api_never_open_to_other_origins(logged_in_client, speech_settings):
    set_tenant(speech_settings, allowed_origins=[TRUSTED])
    page = logged_in_client.get("/", HTTP_ORIGIN=TRUSTED)
    assert "Access-Control-Allow-Origin" not in page


def test_bad_origins_are_refused_in_tenant_settings(speech_settings):
    from django.core.exceptions import ValidationError

    tenant = speech_settings.tenant
    tenant.allowed_origins = ["https://ok.example", "https://bad.example/path", "javascript:alert(1)"]
    with pytest.raises(ValidationError, match="bad.example/path"):
        tenant.full_clean()


# --- rate limits ------------------------------------------------------------------------


def test_a_user_over_the_limit_gets_429_with_retry_after(logged_in_client, speech_settings, openai_mint):
    set_tenant(speech_settings, rate_limit_user="2/m")
    assert [post(logged_in_client).status_code for _ in range(2)] == [200, 200]
    response = post(logged_in_client)
    assert response.status_code == 429
    assert code(response) == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert len(openai_mint.calls) == 2


def test_each_api_key_has_its_own_limit(speech_settings, openai_mint):
    set_tenant(speech_settings, rate_limit_api_key="1/m")
    _, first = TenantAPIKey.objects.create_key(name="a", tenant=speech_settings.tenant)
    _, second = TenantAPIKey.objects.create_key(name="b", tenant=speech_settings.tenant)
    assert post(Client(), HTTP_AUTHORIZATION=f"Api-Key {first}").status_code == 200
    assert post(Client(), HTTP_AUTHORIZATION=f"Api-Key {first}").status_code == 429
    assert post(Client(), HTTP_AUTHORIZATION=f"Api-Key {second}").status_code == 200


def test_anonymous_visitors_are_limited_per_ip(speech_settings, openai_mint):
    set_tenant(speech_settings, allow_anonymous_sessions=True, rate_limit_anonymous="1/m")
    assert post(Client(), REMOTE_ADDR="198.51.100.1").status_code == 200
    assert post(Client(), REMOTE_ADDR="198.51.100.1").status_code == 429
    assert post(Client(), REMOTE_ADDR="198.51.100.2").status_code == 200


def test_the_whole_tenant_has_a_limit(speech_settings, openai_mint, django_user_model):
    set_tenant(speech_settings, allow_anonymous_sessions=True, rate_limit_tenant="2/m")
    responses = [post(Client(), REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(3)]
    assert responses == [200, 200, 429]


def test_a_blank_rate_means_no_limit(logged_in_client, speech_settings, openai_mint):
    set_tenant(speech_settings, rate_limit_user="", rate_limit_tenant="")
    assert {post(logged_in_client).status_code for _ in range(40)} == {200}


# --- audit --------------------------------------------------------------------------------


def test_every_attempt_is_audited(logged_in_client, speech_settings, openai_mint, user):
    post(logged_in_client, REMOTE_ADDR="192.0.2.7")
    post(logged_in_client, {"voice": "nope"})
    failed, ok = SessionAudit.objects.order_by("-id")[:2]
    assert (ok.tenant_id, ok.user_id, ok.provider, ok.model, ok.voice, ok.outcome, ok.error_code, ok.client_ip) == (
        speech_settings.tenant_id, user.pk, "openai_realtime", "gpt-realtime", "verse", "success", "", "192.0.2.7",
    )  # fmt: skip
    assert ok.duration_ms >= 0
    assert (failed.outcome, failed.error_code, failed.voice) == ("failure", "voice_not_allowed", "nope")


def test_the_audit_log_is_read_only_in_admin(admin_client, logged_in_client, speech_settings, openai_mint):
    post(logged_in_client)
    audit = SessionAudit.objects.get()
    assert admin_client.get("/admin/speech/sessionaudit/?outcome=success&tenant__id__exact=1").status_code == 200
    assert admin_client.get("/admin/speech/sessionaudit/add/").status_code == 403
    page = admin_client.get(f"/admin/speech/sessionaudit/{audit.pk}/change/")
    assert page.status_code == 200 and 'type="submit"' not in page.content.decode().split("<form")[-1]
    assert admin_client.post(f"/admin/speech/sessionaudit/{audit.pk}/delete/", {"post": "yes"}).status_code == 403


def test_old_audit_records_are_pruned(logged_in_client, speech_settings, openai_mint, settings, capsys):
    post(logged_in_client)
    post(logged_in_client)
    SessionAudit.objects.filter(pk=SessionAudit.objects.first().pk).update(
        created_at=timezone.now() - timedelta(days=91)
    )
    settings.SPEECH_AUDIT_RETENTION_DAYS = 90
    call_command("audit_prune")
    printed = capsys.readouterr().out
    assert "Deleted 1 session audit records and 0 settings-change records older than 90 days." in printed
    assert SessionAudit.objects.count() == 1
    call_command("audit_prune", "--days", "0")
    assert SessionAudit.objects.count() == 0


# --- security headers ------------------------------------------------------------------------


def csp_directives(response):
    # django-csp does not keep the directives in a fixed order
    return {part.split()[0]: part.split()[1:] for part in response["Content-Security-Policy"].split("; ")}


def test_the_chat_page_may_connect_only_to_itself_and_its_provider(logged_in_client, speech_settings):
    directives = csp_directives(logged_in_client.get("/"))
    assert directives["connect-src"] == ["'self'", "https://api.openai.com"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_chat_page_allows_the_azure_previews_regional_webrtc_host(logged_in_client, speech_settings):
    speech_settings.provider, speech_settings.model = "azure_openai", "contoso-realtime"
    speech_settings.endpoint = "https://contoso.openai.azure.com/openai/realtimeapi/sessions"
    speech_settings.options = {"interface": "preview", "region": "eastus2"}
    speech_settings.full_clean()
    speech_settings.save()
    assert csp_directives(logged_in_client.get("/"))["connect-src"] == [
        "'self'",
        "https://eastus2.realtimeapi-preview.ai.azure.com",
    ]


def test_only_the_api_reference_page_may_run_inline_scripts(client, logged_in_client, speech_settings):
    reference = csp_directives(client.get("/api/docs/"))
    assert reference["script-src"] == ["'self'", "'unsafe-inline'"]
    assert reference["style-src"] == ["'self'", "'unsafe-inline'"]
    assert reference["connect-src"] == ["'self'"]
    chat = csp_directives(logged_in_client.get("/"))
    assert chat["script-src"] == ["'self'"] and chat["style-src"] == ["'self'"]


def test_api_answers_carry_no_document_policy_unless_a_report_only_policy_covers_them(
    logged_in_client, speech_settings, settings
):
    assert "Content-Security-Policy" not in logged_in_client.get("/api/v1/providers")
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    response = logged_in_client.get("/api/v1/providers")
    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"


def test_the_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "SECURE_SSL": "true",
        "SECRET_KEY": "x" * 20 + "-production-grade-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "voice.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- request hygiene -----------------------------------------------------------------------


def test_an_oversized_body_is_413(logged_in_client, speech_settings, openai_mint, settings):
    settings.SPEECH_MAX_BODY_BYTES = 1024
    response = post(logged_in_client, {"model": "m" * 2000})
    assert response.status_code == 413
    assert code(response) == "request_too_large"


@pytest.mark.parametrize(
    "body",
    [
        {"model": None},
        {"voice": {"id": "voice_1"}},
        {"model": 12},
        {"model": ""},
        {"endpoint": "\u0000"},
        {"voice": "é" * 65},
    ],
)
def test_malformed_values_are_400_never_500(logged_in_client, speech_settings, openai_mint, body):
    response = post(logged_in_client, body)
    assert response.status_code == 400
    assert code(response) == "invalid_request"
    assert len(openai_mint.calls) == 0


@pytest.mark.parametrize(
    "raw", ["", "null", "1", '"text"', "[]", "{" * 5000, "[" * 6000 + "]" * 6000, '{"model": "\\ud800"}']
)
def test_odd_json_is_a_clear_400(logged_in_client, speech_settings, openai_mint, raw):
    response = logged_in_client.post("/realtime_session", data=raw, content_type="application/json")
    assert response.status_code in (200, 400), response.content  # an empty body is a default request
    if response.status_code == 400:
        assert code(response) in ("invalid_request", "parse_error")
