"""The local provider's HTTP endpoints, in the shape of OpenAI's GA interface."""

import time

import pytest
from django.test import override_settings
from openai.types.realtime import ClientSecretCreateResponse

from speech.local.client_secrets import client_secret_mint
from speech.providers.local import local_api_key
from tests.speech.local.conftest import CALLS_URL, MINT_URL

pytestmark = pytest.mark.django_db


def mint_request(client, body, key=None):
    return client.post(
        MINT_URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key or local_api_key()}"
    )


def openai_error_code(response):
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error["code"]


def test_mint_answers_in_the_ga_shape(client):
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 120},
        "session": {"type": "realtime", "model": "local-echo", "audio": {"output": {"voice": "marin"}}},
    }
    response = mint_request(client, body)
    assert response.status_code == 200
    answer = ClientSecretCreateResponse.model_validate(response.json())
    assert answer.value.startswith("ek_")
    assert abs(answer.expires_at - (time.time() + 120)) < 5
    assert response.json()["session"]["audio"]["output"]["voice"] == "marin"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_mint_needs_the_local_key(client):
    response = mint_request(client, {}, key="sk-wrong")
    assert response.status_code == 401
    assert openai_error_code(response) == "invalid_api_key"


@override_settings(LOCAL_REALTIME_API_KEY="sk-configured-local")
def test_a_configured_local_key_replaces_the_derived_one(client):
    assert mint_request(client, {}, key="sk-configured-local").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_after": {"seconds": 5}}, "invalid_value"),
        ({"expires_after": {"seconds": 7201}}, "invalid_value"),
        ({"session": {"type": "transcription"}}, "invalid_value"),
        ({"session": {"type": "realtime", "model": "gpt-realtime"}}, "model_not_found"),
    ],
)
def test_mint_refuses_bad_bodies(client, body, code):
    response = mint_request(client, body)
    assert response.status_code == 400
    assert openai_error_code(response) == code


def test_mint_refuses_malformed_json(client):
    response = client.post(
        MINT_URL, data="{", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {local_api_key()}"
    )
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_json"


def post_call(client, secret, sdp="v=0", content_type="application/sdp"):
    return client.post(CALLS_URL, data=sdp, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.parametrize("secret", ["", "ek_local_forged", "sk-not-a-client-secret"])
def test_calls_need_a_valid_client_secret(client, secret):
    response = post_call(client, secret)
    assert response.status_code == 401
    assert openai_error_code(response) == "invalid_api_key"


def test_an_expired_client_secret_is_refused(client):
    value, _ = client_secret_mint(session={"type": "realtime"}, ttl_seconds=-1, account="default")
    assert post_call(client, value).status_code == 401


def test_the_server_key_opens_only_the_unified_multipart_call(client):
    response = post_call(client, local_api_key())  # an SDP body, as a browser with a client secret sends
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_content_type"


def test_calls_take_sdp_only(client, mint):
    response = post_call(client, mint(), content_type="application/json")
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_content_type"


def test_a_broken_offer_is_a_clear_400(client, mint):
    response = post_call(client, mint(), sdp="this is not sdp")
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_offer"


def test_an_oversized_offer_is_refused(client, mint):
    response = post_call(client, mint(), sdp="a" * (64 * 1024 + 1))
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_value"


def test_preflight_allows_bearer_posts_from_any_page(client):
    response = client.options(CALLS_URL, HTTP_ORIGIN="http://localhost:8000")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert "Location" in response["Access-Control-Expose-Headers"]


@override_settings(LOCAL_REALTIME_RATE_CALLS="thirty a minute")
def test_a_malformed_local_rate_fails_the_system_check():
    from speech.checks import check_local_rates

    assert [error.id for error in check_local_rates()] == ["speech.E003"]
