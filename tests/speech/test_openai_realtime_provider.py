import json
import subprocess
import sys

import pytest
import requests
import responses

from speech import errors
from speech.providers.base import SessionConfig
from speech.providers.deadline import WatchedHTTPConnection
from speech.providers.openai_realtime import OpenAIRealtimeProvider
from tests.conftest import OPENAI_MINT_URL, SERVER_KEY
from tests.openai_shapes import assert_mint_body, mint_answer
from tests.servers import ROOT
from tests.vault_server import free_port


@pytest.fixture
def provider():
    return OpenAIRealtimeProvider()


def config(**overrides):
    values = {"model": "gpt-realtime", "voice": "verse", "endpoint": OPENAI_MINT_URL}
    return SessionConfig(**{**values, **overrides})


@responses.activate
def test_mints_with_the_ga_shape_and_the_server_key_only_in_the_authorization_header(provider):
    responses.post(OPENAI_MINT_URL, json=mint_answer())

    minted = provider.create_session(api_key=SERVER_KEY, config=config(instructions="Be brief."))

    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    assert "OpenAI-Beta" not in request.headers
    body = json.loads(request.body)
    assert_mint_body(body)
    assert SERVER_KEY not in request.body.decode()
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 600}
    assert body["session"]["model"] == "gpt-realtime"
    assert body["session"]["instructions"] == "Be brief."
    assert body["session"]["audio"]["output"] == {"voice": "verse"}
    assert minted.client_secret == "ek_test_secret_123"
    assert minted.expires_at == 1767225600
    assert minted.webrtc_url == "https://api.openai.com/v1/realtime/calls"
    assert minted.data_channel == "oai-events"


@pytest.mark.parametrize(
    ("turn_detection", "expected"),
    [("server_vad", {"type": "server_vad"}), ("semantic_vad", {"type": "semantic_vad"}), ("none", None)],
)
def test_turn_detection_maps_to_the_ga_field(provider, turn_detection, expected):
    body = provider.request_body(config(turn_detection=turn_detection))
    assert_mint_body(body)
    assert body["session"]["audio"]["input"]["turn_detection"] == expected


def test_transcription_model_and_options_reach_the_body_in_sdk_shape(provider):
    body = provider.request_body(
        config(
            input_transcription_model="gpt-4o-mini-transcribe",
            options={"noise_reduction": "near_field", "speed": 1.2},
            ttl_seconds=7200,
        )
    )
    assert_mint_body(body)
    audio = body["session"]["audio"]
    assert audio["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert audio["input"]["noise_reduction"] == {"type": "near_field"}
    assert audio["output"]["speed"] == 1.2
    assert body["expires_after"]["seconds"] == 7200


def test_no_transcription_model_sends_no_transcription(provider):
    body = provider.request_body(config(input_transcription_model=""))
    assert_mint_body(body)
    assert "transcription" not in body["session"]["audio"]["input"]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            401,
            {"error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "bad"}},
            errors.ProviderAuthFailed,
        ),
        (403, {"error": {"type": "invalid_request_error", "code": None, "message": "no"}}, errors.ProviderAuthFailed),
        (
            400,
            {"error": {"type": "invalid_request_error", "code": "unknown_parameter", "message": "x"}},
            errors.ProviderRejected,
        ),
        (500, {"error": {"type": "server_error", "code": None, "message": "oops"}}, errors.ProviderUnavailable),
        (503, "<html>down</html>", errors.ProviderUnavailable),
        (302, "", errors.ProviderUnavailable),
    ],
)
@responses.activate
def test_provider_failures_map_to_our_errors(provider, status, body, error):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.post(OPENAI_MINT_URL, status=status, **kwargs)
    with pytest.raises(error):
        provider.create_session(api_key=SERVER_KEY, config=config())


@responses.activate
def test_rejection_names_the_provider_code_but_never_its_free_text(provider):
    responses.post(
        OPENAI_MINT_URL,
        status=400,
        json={"error": {"type": "invalid_request_error", "code": "unknown_parameter", "message": "sk-leak"}},
    )
    with pytest.raises(errors.ProviderRejected) as caught:
        provider.create_session(api_key=SERVER_KEY, config=config())
    assert "unknown_parameter" in caught.value.message
    assert "sk-leak" not in caught.value.message


@responses.activate
def test_rate_limit_carries_the_providers_retry_after(provider):
    responses.post(
        OPENAI_MINT_URL,
        status=429,
        headers={"Retry-After": "7"},
        json={"error": {"type": "requests", "code": "rate_limit_exceeded", "message": "slow down"}},
    )
    with pytest.raises(errors.ProviderRateLimited) as caught:
        provider.create_session(api_key=SERVER_KEY, config=config())
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (requests.ConnectTimeout(), errors.ProviderTimeout),
        (requests.ReadTimeout(), errors.ProviderTimeout),
        (requests.ConnectionError(), errors.ProviderUnavailable),
    ],
)
@responses.activate
def test_network_failures_map_to_our_errors(provider, exception, error):
    responses.post(OPENAI_MINT_URL, body=exception)
    with pytest.raises(error):
        provider.create_session(api_key=SERVER_KEY, config=config())


@pytest.mark.parametrize(
    "body",
    [
        {"expires_at": 1},
        {"value": "", "expires_at": 1},
        {"value": "ek_x", "expires_at": "soon"},
        {"value": "ek_x", "expires_at": 1, "session": "nope"},
        ["not", "an", "object"],
    ],
)
@responses.activate
def test_an_answer_without_a_usable_secret_is_a_bad_response(provider, body):
    responses.post(OPENAI_MINT_URL, json=body)
    with pytest.raises(errors.ProviderBadResponse):
        provider.create_session(api_key=SERVER_KEY, config=config())


@responses.activate
def test_a_redirect_is_never_followed_with_the_server_key(provider):
    responses.post(OPENAI_MINT_URL, status=307, headers={"Location": "https://evil.example/steal"})
    responses.post("https://evil.example/steal", json=mint_answer())
    with pytest.raises(errors.ProviderUnavailable):
        provider.create_session(api_key=SERVER_KEY, config=config())
    assert [call.request.url for call in responses.calls] == [OPENAI_MINT_URL]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.openai.com/v1/realtime/client_secrets", None),
        ("http://127.0.0.1:9000/v1/realtime/client_secrets", None),
        ("http://localhost:9000/v1/realtime/client_secrets", None),
        ("http://[::1]:9000/v1/realtime/client_secrets", None),
        ("https://api.openai.com/v1/realtime/sessions", None),  # retired, but selectable with a warning
        ("http://api.openai.com/v1/realtime/client_secrets", "https://"),
        ("ftp://api.openai.com/v1/realtime/client_secrets", "https://"),
        ("https://user:pw@api.openai.com/v1/realtime/client_secrets", "user information"),
        ("https://api.openai.com/v1/realtime/client_secrets?x=1", "query"),
        ("https://api.openai.com/v1/chat/completions", "/realtime/client_secrets"),
        ("https://api.openai.com:99999/v1/realtime/client_secrets", "valid URL"),
    ],
)
def test_endpoint_rules(provider, url, problem, settings):
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1:9000", "localhost:9000", "[::1]:9000"]
    found = provider.endpoint_problem(url)
    if problem is None:
        assert found is None
    else:
        assert problem in found


# --- the pooled adapter, against a real provider on loopback (responses would bypass it) -----


@pytest.fixture(scope="module")
def loopback_provider():
    """The benchmark's fake provider on loopback: its endpoint under 127.0.0.1 and under localhost."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.fake_provider", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout.readline().startswith("ready"), "the fake provider did not start"
        yield [f"http://{host}:{port}/v1/realtime/client_secrets" for host in ("127.0.0.1", "localhost")]
    finally:
        process.terminate()
        process.wait(10)


def mint(provider, endpoint):
    return provider.create_session(api_key=SERVER_KEY, config=config(endpoint=endpoint))


def pool_for(provider, endpoint):
    request = requests.Request("POST", endpoint).prepare()
    return provider.adapter.get_connection_with_tls_context(request, provider.ca_bundle or True)


def test_an_endpoint_keeps_its_connection_and_the_deadline_watches_it(provider, loopback_provider):
    endpoint = loopback_provider[0]
    for _ in range(4):
        assert mint(provider, endpoint).client_secret == "ek_bench_secret"
    pool = pool_for(provider, endpoint)
    assert pool.num_connections == 1  # one keep-alive connection served all four
    assert pool.ConnectionCls is WatchedHTTPConnection  # its responses' sockets go to the call's deadline


def test_more_hosts_than_pools_all_mint(loopback_provider):
    class OnePoolProvider(OpenAIRealtimeProvider):
        pool_hosts = 1  # each host evicts the other's pool

    provider = OnePoolProvider()
    for _ in range(3):
        for endpoint in loopback_provider:
            assert mint(provider, endpoint).client_secret == "ek_bench_secret"


def test_each_tls_setting_gets_a_pool_of_its_own(provider, loopback_provider):
    endpoint = loopback_provider[0]
    request = requests.Request("POST", endpoint).prepare()
    verifying = provider.adapter.get_connection_with_tls_context(request, True)
    not_verifying = provider.adapter.get_connection_with_tls_context(request, False)
    assert not_verifying is not verifying
    assert provider.adapter.get_connection_with_tls_context(request, True) is verifying
    assert provider.adapter.get_connection_with_tls_context(request, False) is not_verifying
