import json
import logging

import pytest
import responses
from django.test import Client

from speech.api.sessions import RealtimeSessionApi
from tests.conftest import OPENAI_MINT_URL, SERVER_KEY

pytestmark = pytest.mark.django_db

URL = "/realtime_session"


def post(client, body=None, **kwargs):
    return client.post(URL, data=json.dumps(body or {}), content_type="application/json", **kwargs)


def error_code(response):
    return response.json()["error"]["code"]


@pytest.mark.parametrize("url", ["/realtime_session", "/api/v1/realtime_session"])
def test_mints_a_session_for_a_logged_in_user(logged_in_client, speech_settings, openai_mint, url):
    response = logged_in_client.post(url, data="{}", content_type="application/json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["provider"] == "openai_realtime"
    assert body["model"] == "gpt-realtime"
    assert body["voice"] == "verse"
    assert body["client_secret"] == {"value": "ek_test_secret_123", "expires_at": 1767225600}
    assert body["webrtc"] == {
        "url": "https://api.openai.com/v1/realtime/calls",
        "data_channel": "oai-events",
        "codecs": ["opus"],
    }
    assert body["session"]["model"] == "gpt-realtime"
    assert SERVER_KEY not in response.content.decode()
    # The answer is built directly (the hot path): it must still be exactly the documented shape.
    assert set(body) == set(RealtimeSessionApi.OutputSerializer().fields)


def test_tenant_settings_shape_the_minted_session(logged_in_client, speech_settings, openai_mint):
    speech_settings.instructions = "Answer in French."
    speech_settings.turn_detection = "semantic_vad"
    speech_settings.secret_ttl_seconds = 120
    speech_settings.save()

    assert post(logged_in_client).status_code == 200

    sent = json.loads(openai_mint.calls[0].request.body)
    assert sent["session"]["instructions"] == "Answer in French."
    assert sent["session"]["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}
    assert sent["expires_after"]["seconds"] == 120


@pytest.mark.parametrize(
    ("tenant_detection", "preferred", "sent_detection", "turn_mode"),
    [
        ("server_vad", "voice_activity", {"type": "server_vad"}, "voice_activity"),
        ("server_vad", "push_to_talk", None, "push_to_talk"),
        ("semantic_vad", "push_to_talk", None, "push_to_talk"),
        ("none", "voice_activity", None, "push_to_talk"),
    ],
)
def test_the_turn_mode_is_decided_at_mint_time(
    logged_in_client, user, speech_settings, openai_mint, tenant_detection, preferred, sent_detection, turn_mode
):
    from settings_admin.models import UserPreference

    speech_settings.turn_detection = tenant_detection
    speech_settings.save()
    UserPreference.objects.create(user=user, tenant=speech_settings.tenant, turn_mode=preferred)

    response = post(logged_in_client)

    assert response.json()["turn_mode"] == turn_mode
    sent = json.loads(openai_mint.calls[0].request.body)
    assert sent["session"]["audio"]["input"]["turn_detection"] == sent_detection


def test_an_allowed_model_and_voice_may_be_requested(logged_in_client, speech_settings, openai_mint):
    speech_settings.allowed_models = ["gpt-realtime", "gpt-realtime-mini"]
    speech_settings.save()

    response = post(logged_in_client, {"model": "gpt-realtime-mini", "voice": "marin"})

    assert response.status_code == 200
    assert response.json()["model"] == "gpt-realtime-mini"
    sent = json.loads(openai_mint.calls[0].request.body)
    assert sent["session"]["model"] == "gpt-realtime-mini"
    assert sent["session"]["audio"]["output"]["voice"] == "marin"


def test_a_model_outside_the_allowed_set_is_refused(logged_in_client, speech_settings, openai_mint):
    response = post(logged_in_client, {"model": "gpt-realtime-2"})
    assert response.status_code == 400
    assert error_code(response) == "model_not_allowed"
    assert len(openai_mint.calls) == 0


def test_a_voice_outside_the_allowed_set_is_refused(logged_in_client, speech_settings, openai_mint):
    speech_settings.allowed_voices = ["verse", "marin"]
    speech_settings.save()
    response = post(logged_in_client, {"voice": "alloy"})
    assert response.status_code == 400
    assert error_code(response) == "voice_not_allowed"
    assert len(openai_mint.calls) == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/v1/realtime/client_secrets",
        "http://api.openai.com/v1/realtime/client_secrets",
        "https://api.openai.com@evil.example/v1/realtime/client_secrets",
        "https://api.openai.com/v1/realtime/sessions",
    ],
)
def test_a_requested_endpoint_other_than_the_tenants_is_refused_before_any_request(
    logged_in_client, speech_settings, openai_mint, endpoint
):
    response = post(logged_in_client, {"endpoint": endpoint})
    assert response.status_code == 400
    assert error_code(response) == "endpoint_not_allowed"
    assert len(openai_mint.calls) == 0


def test_requesting_the_configured_endpoint_is_accepted(logged_in_client, speech_settings, openai_mint):
    response = post(logged_in_client, {"endpoint": OPENAI_MINT_URL})
    assert response.status_code == 200


def test_no_server_key_is_credentials_missing(logged_in_client, speech_settings, openai_mint, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    response = post(logged_in_client)
    assert response.status_code == 503
    assert error_code(response) == "credentials_missing"
    assert len(openai_mint.calls) == 0


@pytest.mark.parametrize(
    ("status", "headers", "code", "expected_status"),
    [
        (401, {}, "provider_auth_failed", 502),
        (429, {"Retry-After": "12"}, "provider_rate_limited", 503),
        (500, {}, "provider_unavailable", 502),
        (400, {}, "provider_rejected", 502),
    ],
)
@responses.activate
def test_provider_failures_are_our_own_errors(
    logged_in_client, speech_settings, status, headers, code, expected_status
):
    responses.post(
        OPENAI_MINT_URL,
        status=status,
        headers=headers,
        json={"error": {"type": "x", "code": "invalid_api_key", "message": f"Incorrect API key {SERVER_KEY}"}},
    )
    response = post(logged_in_client)
    assert response.status_code == expected_status
    assert error_code(response) == code
    assert SERVER_KEY not in response.content.decode()
    if status == 429:
        assert response["Retry-After"] == "12"


@responses.activate
def test_provider_timeout_is_504(logged_in_client, speech_settings):
    import requests

    responses.post(OPENAI_MINT_URL, body=requests.ReadTimeout())
    response = post(logged_in_client)
    assert response.status_code == 504
    assert error_code(response) == "provider_timeout"


def test_login_is_required(client, speech_settings, openai_mint):
    response = post(client)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert error_code(response) == "not_authenticated"
    assert len(openai_mint.calls) == 0


def test_a_session_cookie_without_csrf_token_is_refused(user, speech_settings, openai_mint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post(client)
    assert response.status_code == 403
    assert error_code(response) == "csrf_failed"
    assert len(openai_mint.calls) == 0


def test_a_session_cookie_with_csrf_token_is_accepted(user, speech_settings, openai_mint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the CSRF cookie, as the chat page does
    token = client.cookies["csrftoken"].value
    response = post(client, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "gpt-realtime", "temperature": 2}, "temperature"),
        ({"voice": "v" * 65}, "voice"),
        ({"model": ["gpt-realtime"]}, "model"),
        ({"endpoint": "x" * 501}, "endpoint"),
    ],
)
def test_bad_fields_are_invalid_request(logged_in_client, speech_settings, openai_mint, body, field):
    response = post(logged_in_client, body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert field in response.json()["error"]["fields"]
    assert len(openai_mint.calls) == 0


def test_a_body_that_is_not_an_object_is_invalid_request(logged_in_client, speech_settings):
    response = logged_in_client.post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_malformed_json_is_parse_error(logged_in_client, speech_settings):
    response = logged_in_client.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_code(response) == "parse_error"


def test_only_json_is_accepted(logged_in_client, speech_settings):
    response = logged_in_client.post(URL, data={"model": "gpt-realtime"})
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_get_is_not_allowed(logged_in_client, speech_settings):
    response = logged_in_client.get(URL)
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"


def test_no_configured_tenant_is_tenant_not_found(logged_in_client, speech_settings):
    speech_settings.tenant.is_active = False
    speech_settings.tenant.save()
    response = post(logged_in_client)
    assert response.status_code == 404
    assert error_code(response) == "tenant_not_found"


def test_one_log_line_per_attempt_without_secrets(logged_in_client, speech_settings, openai_mint, caplog):
    with caplog.at_level(logging.INFO, logger="speech"):
        post(logged_in_client)
        post(logged_in_client, {"voice": "nope"})

    lines = [r for r in caplog.records if r.name == "speech.session"]
    assert len(lines) == 2
    ok, failed = lines
    assert (ok.tenant, ok.provider, ok.model, ok.outcome, ok.error_code) == (
        "default",
        "openai_realtime",
        "gpt-realtime",
        "success",
        None,
    )
    assert ok.duration_ms >= 0
    assert "duration_ms=" in ok.getMessage()
    assert (failed.outcome, failed.error_code) == ("failure", "voice_not_allowed")
    for record in caplog.records:
        assert SERVER_KEY not in record.getMessage()
        assert "ek_test_secret_123" not in record.getMessage()
