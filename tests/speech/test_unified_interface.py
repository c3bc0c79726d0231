"""The unified interface: the gateway relays the browser's offer; the browser never holds a secret."""

import pytest
import responses
from django.test import Client
from django.utils.http import urlencode

from speech.models import SessionAudit
from tests.conftest import SERVER_KEY

pytestmark = pytest.mark.django_db
CALLS = "https://api.openai.com/v1/realtime/calls"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture
def unified(speech_settings):
    speech_settings.webrtc_mode = "unified"
    speech_settings.allowed_voices = ["verse", "marin"]
    speech_settings.save()
    return speech_settings


def relay(client, query="", body=OFFER, **headers):
    return client.post(f"/api/v1/realtime_call{query}", data=body, content_type="application/sdp", **headers)


def test_the_session_answer_points_at_the_gateway_and_holds_no_secret(logged_in_client, unified, openai_mint):
    body = logged_in_client.post("/realtime_session", data='{"voice": "marin"}', content_type="application/json").json()
    assert body["client_secret"] is None
    query = urlencode({"model": "gpt-realtime", "voice": "marin", "call": body["call"]["ref"]})
    assert body["webrtc"]["url"] == f"/api/v1/realtime_call?{query}"
    assert body["call"]["report_url"] is None  # the relay learns the call id itself
    assert body["webrtc"]["data_channel"] == "oai-events"
    assert len(openai_mint.calls) == 0  # nothing minted
    assert not SessionAudit.objects.exists()


@responses.activate
def test_the_offer_is_relayed_with_the_server_key_and_audited(logged_in_client, unified):
    responses.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_42"})
    response = relay(logged_in_client, "?voice=marin")
    assert response.status_code == 201
    assert response["Content-Type"] == "application/sdp"
    assert response.content.decode() == ANSWER
    assert response["X-Realtime-Call-Id"] == "rtc_42"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    assert SERVER_KEY not in response.content.decode()
    audit = SessionAudit.objects.get()
    assert (audit.outcome, audit.voice) == ("success", "marin")


@responses.activate
def test_provider_failures_of_the_relay_are_our_errors(logged_in_client, unified):
    responses.post(CALLS, status=401, json={"error": {"code": "invalid_api_key", "message": "no"}})
    response = relay(logged_in_client)
    assert (response.status_code, response.json()["error"]["code"]) == (502, "provider_auth_failed")
    assert SessionAudit.objects.get().error_code == "provider_auth_failed"


def test_a_direct_mode_tenant_does_not_relay(logged_in_client, speech_settings):
    response = relay(logged_in_client)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "unified_mode_off")


@pytest.mark.parametrize(
    ("query", "body", "code"),
    [
        ("", "not sdp", "parse_error"),
        ("?voice=alloy", OFFER, "voice_not_allowed"),
        ("?temperature=2", OFFER, "invalid_request"),
    ],
)
def test_bad_relay_requests(logged_in_client, unified, query, body, code):
    response = relay(logged_in_client, query, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_the_relay_needs_the_csrf_token_with_a_cookie(user, unified):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = relay(client)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "csrf_failed")


def test_the_relay_counts_against_the_limits_and_the_session_answer_does_not(logged_in_client, unified):
    from settings_admin.models import Tenant
    from settings_admin.selectors import settings_cache_invalidate

    Tenant.objects.filter(pk=unified.tenant_id).update(rate_limit_user="1/m")
    settings_cache_invalidate()
    for _ in range(3):
        assert logged_in_client.post("/realtime_session", data="{}", content_type="application/json").status_code == 200
    with responses.RequestsMock() as mock:
        mock.post(CALLS, status=201, body=ANSWER)
        assert relay(logged_in_client).status_code == 201
    assert relay(logged_in_client).status_code == 429


def test_a_provider_without_the_unified_interface_cannot_be_set_to_it(speech_settings, settings):
    from django.core.exceptions import ValidationError

    settings.SPEECH_PROVIDERS = [*settings.SPEECH_PROVIDERS, "tests.speech.direct_only_provider.DirectOnlyProvider"]
    speech_settings.provider, speech_settings.model, speech_settings.endpoint = "direct_only", "m1", ""
    speech_settings.allowed_voices = []
    speech_settings.full_clean()
    speech_settings.webrtc_mode = "unified"
    with pytest.raises(ValidationError) as caught:
        speech_settings.full_clean()
    assert caught.value.message_dict["webrtc_mode"] == ["Direct only does not support the unified interface."]


def test_azure_has_no_default_endpoint(speech_settings):
    from django.core.exceptions import ValidationError

    speech_settings.provider, speech_settings.model, speech_settings.endpoint = "azure_openai", "dep", ""
    with pytest.raises(ValidationError) as caught:
        speech_settings.full_clean()
    assert "has no default endpoint" in caught.value.message_dict["endpoint"][0]
