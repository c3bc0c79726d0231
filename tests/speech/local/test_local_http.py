"""The local provider's HTTP endpoints, in the shape of OpenAI's GA interface, on its running service."""

import asyncio
import subprocess
import sys
import time

import pytest
import requests
from openai.types.realtime import ClientSecretCreateResponse

from speech.local.client_secrets import client_secret_mint
from tests.servers import ROOT
from tests.speech.local.conftest import CALLS_PATH, MINT_PATH
from tests.speech.local.rtc_client import offer_sdp


def openai_error_code(response):
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error["code"]


def test_the_package_imports_no_django():
    script = "import sys, speech.local.app, speech.local.__main__; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_mint_answers_in_the_ga_shape(caller):
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 120},
        "session": {"type": "realtime", "model": "local-echo", "audio": {"output": {"voice": "marin"}}},
    }
    response = caller.mint_request(body)
    assert response.status_code == 200
    answer = ClientSecretCreateResponse.model_validate(response.json())
    assert answer.value.startswith("ek_")
    assert abs(answer.expires_at - (time.time() + 120)) < 5
    assert response.json()["session"]["audio"]["output"]["voice"] == "marin"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_mint_needs_the_local_key(caller):
    response = caller.mint_request({}, key="sk-wrong")
    assert response.status_code == 401
    assert openai_error_code(response) == "invalid_api_key"


def test_the_master_key_mints(caller, service):
    assert caller.mint_request({}, key=service.api_key).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_after": {"seconds": 5}}, "invalid_value"),
        ({"expires_after": {"seconds": 7201}}, "invalid_value"),
        ({"session": {"type": "transcription"}}, "invalid_value"),
        ({"session": {"type": "realtime", "model": "gpt-realtime"}}, "model_not_found"),
        ([], "invalid_type"),
    ],
)
def test_mint_refuses_bad_bodies(caller, body, code):
    response = caller.mint_request(body)
    assert response.status_code == 400
    assert openai_error_code(response) == code


def test_mint_refuses_malformed_json(caller, service):
    response = requests.post(f"{service.url}{MINT_PATH}", data="{", timeout=10,
                             headers={"Authorization": f"Bearer {caller.key()}"})  # fmt: skip
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_json"


@pytest.mark.parametrize("secret", ["", "ek_local_forged", "ek_local_a.b", "sk-not-a-client-secret"])
def test_calls_need_a_valid_client_secret_or_server_key(caller, secret):
    response = caller.post_sdp("v=0", secret)
    assert response.status_code == 401
    assert openai_error_code(response) == "invalid_api_key"


def test_an_expired_client_secret_is_refused(caller, service):
    value, _ = client_secret_mint(master=service.api_key, session={"type": "realtime"}, ttl_seconds=-1,
                                  account=caller.account)  # fmt: skip
    assert caller.post_sdp("v=0", value).status_code == 401


def test_a_secret_signed_with_another_master_key_is_refused(caller):
    value, _ = client_secret_mint(master="sk-another-installation", session={"type": "realtime"}, ttl_seconds=60,
                                  account=caller.account)  # fmt: skip
    assert caller.post_sdp("v=0", value).status_code == 401


def test_the_server_key_opens_a_call_with_raw_sdp_and_the_default_session(caller):
    response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith(f"{CALLS_PATH}/rtc_")
    assert response.headers["Content-Type"].startswith("application/sdp")


def test_the_server_key_opens_a_call_with_multipart_sdp_and_session(caller):
    response = caller.post_multipart(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201, response.text


def test_a_multipart_session_is_validated(caller):
    response = caller.post_multipart("v=0", caller.key(), session='{"type": "realtime", "model": "gpt-realtime"}')
    assert response.status_code == 400
    assert openai_error_code(response) == "model_not_found"
    response = caller.post_multipart("v=0", caller.key(), session="{")
    assert openai_error_code(response) == "invalid_json"


def test_a_client_secret_posts_only_raw_sdp(caller):
    response = caller.post_multipart("v=0", caller.mint())
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_content_type"


def test_calls_take_sdp_only(caller):
    response = caller.post_sdp("{}", caller.mint(), content_type="application/json")
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_content_type"


def test_a_broken_offer_is_a_clear_400(caller):
    response = caller.post_sdp("this is not sdp", caller.mint())
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_offer"


def test_an_oversized_offer_is_refused(caller):
    response = caller.post_sdp("a" * (64 * 1024 + 1), caller.mint())
    assert response.status_code == 400
    assert openai_error_code(response) == "invalid_value"


def test_sip_actions_are_refused_as_not_emulated(caller):
    response = requests.post(f"{caller.service.url}{CALLS_PATH}/rtc_x/accept", timeout=10,
                             headers={"Authorization": f"Bearer {caller.key()}"})  # fmt: skip
    assert response.status_code == 400
    assert openai_error_code(response) == "unsupported_call_type"


def test_an_unknown_path_is_a_json_404(service):
    response = requests.get(f"{service.url}/v1/models", timeout=10)
    assert response.status_code == 404
    assert openai_error_code(response) == "not_found"


def test_preflight_allows_bearer_posts_from_any_page_with_the_agents_sdk_header(service):
    response = requests.options(
        f"{service.url}{CALLS_PATH}", timeout=10,
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-openai-agents-sdk",
        },
    )  # fmt: skip
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-openai-agents-sdk"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Location" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOCAL_REALTIME_RATE_CALLS", "thirty a minute"),
        ("LOCAL_REALTIME_MAX_CALLS", "many"),
        ("LOCAL_REALTIME_STUN", "stun.example.org"),
        ("LOCAL_REALTIME_ICE_ADDRESSES", "127.0.0.1"),
    ],
)
def test_a_malformed_setting_stops_the_service_at_start(variable, value, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LOCAL_REALTIME_API_KEY": "sk-x", "LOCAL_REALTIME_PORT": "0", variable: value}
    result = subprocess.run([sys.executable, "-m", "speech.local"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert variable in result.stderr


def test_a_wrong_method_is_a_json_405(service):
    response = requests.get(f"{service.url}{CALLS_PATH}", timeout=10)
    assert response.status_code == 405
    assert openai_error_code(response) == "method_not_allowed"


def test_a_websocket_needs_a_model_or_a_call_id(caller):
    response = requests.get(f"{caller.service.url}/v1/realtime", timeout=10,
                            headers={"Authorization": f"Bearer {caller.key()}"})  # fmt: skip
    assert response.status_code == 400
    assert openai_error_code(response) == "missing_required_parameter"
