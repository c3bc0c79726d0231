"""One contract every provider keeps: mint shape, error mapping, timeouts, catalog rules, the unified call.

Each case gives canned answers in its vendor's shape; OpenAI and Azure GA bodies are checked
against openai.types.realtime.
"""

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from openai.types.realtime import RealtimeSessionCreateRequestParam
from pydantic import TypeAdapter

from settings_admin.registry import registry
from speech import errors
from speech.providers.base import ProviderCall, ProviderSession, SessionConfig
from tests.openai_shapes import assert_mint_body, mint_answer

KEY = "server-key-for-contract-0123456789"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def ga_body(body):
    assert_mint_body(body)


def beta_body(body):
    assert set(body) <= {"model", "voice", "modalities", "turn_detection", "instructions", "input_audio_transcription"}
    assert body["model"] and body["voice"]


def preview_body(body):
    assert set(body) <= {"model", "voice", "instructions"}


@dataclass
class Case:
    provider: str
    endpoint: str
    mint_url: str
    webrtc_url: str
    auth: tuple
    check_body: object
    answer: dict
    model: str = ""
    options: dict = field(default_factory=dict)
    calls_url: str = ""  # the unified interface's URL, when the case supports it

    def config(self, **overrides):
        provider = registry.get(self.provider)
        values = {
            "model": self.model or provider.default_model,
            "voice": "verse",
            "endpoint": self.endpoint,
            "options": self.options,
            "instructions": "Be brief.",
        }
        return SessionConfig(**{**values, **overrides})


AZURE = "https://contoso.openai.azure.com"
CASES = {
    "openai-ga": Case(
        "openai_realtime",
        "https://api.openai.com/v1/realtime/client_secrets",
        "https://api.openai.com/v1/realtime/client_secrets",
        "https://api.openai.com/v1/realtime/calls",
        ("Authorization", f"Bearer {KEY}"),
        ga_body,
        mint_answer(value="ek_openai"),
        calls_url="https://api.openai.com/v1/realtime/calls",
    ),
    "openai-beta": Case(
        "openai_realtime",
        "https://compatible.example/v1/realtime/sessions",
        "https://compatible.example/v1/realtime/sessions",
        "https://compatible.example/v1/realtime?model=gpt-realtime",
        ("OpenAI-Beta", "realtime=v1"),
        beta_body,
        {"id": "sess_1", "model": "gpt-realtime", "client_secret": {"value": "ek_beta", "expires_at": 1767225600}},
        options={"interface": "beta"},
    ),
    "azure-ga-key": Case(
        "azure_openai",
        f"{AZURE}/openai/v1/realtime/client_secrets",
        f"{AZURE}/openai/v1/realtime/client_secrets",
        f"{AZURE}/openai/v1/realtime/calls",
        ("api-key", KEY),
        ga_body,
        mint_answer(value="ek_azure"),
        model="my-realtime-deployment",
        calls_url=f"{AZURE}/openai/v1/realtime/calls",
    ),
    "azure-ga-entra": Case(
        "azure_openai",
        f"{AZURE}/openai/v1/realtime/client_secrets",
        f"{AZURE}/openai/v1/realtime/client_secrets",
        f"{AZURE}/openai/v1/realtime/calls?webrtcfilter=on",
        ("Authorization", f"Bearer {KEY}"),
        ga_body,
        mint_answer(value="ek_azure_entra"),
        model="my-realtime-deployment",
        options={"auth": "entra", "webrtc_filter": True},
        calls_url=f"{AZURE}/openai/v1/realtime/calls",
    ),
    "azure-preview": Case(
        "azure_openai",
        f"{AZURE}/openai/realtimeapi/sessions",
        f"{AZURE}/openai/realtimeapi/sessions?api-version=2025-04-01-preview",
        "https://eastus2.realtimeapi-preview.ai.azure.com/v1/realtimertc?model=my-realtime-deployment",
        ("api-key", KEY),
        preview_body,
        {"id": "sess_p", "model": "my-realtime-deployment", "client_secret": {"value": "ek_preview"}},
        model="my-realtime-deployment",
        options={"interface": "preview", "region": "eastus2"},
    ),
    "local": Case(
        "local",
        "http://127.0.0.1:8001/v1/realtime/client_secrets",
        "http://127.0.0.1:8001/v1/realtime/client_secrets",
        "http://127.0.0.1:8001/v1/realtime/calls",
        ("Authorization", f"Bearer {KEY}"),
        ga_body,
        mint_answer(value="ek_local_x"),
        calls_url="http://127.0.0.1:8001/v1/realtime/calls",
    ),
}


@pytest.fixture(params=list(CASES), ids=list(CASES))
def case(request):
    return CASES[request.param]


@pytest.fixture
def provider(case, settings):
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["compatible.example"]  # the beta case's OpenAI-compatible server
    return registry.get(case.provider)


def register(case, **answer):
    method_url = case.mint_url.split("?")[0]
    responses.post(method_url, **answer)


@responses.activate
def test_mints_in_the_vendors_shape(case, provider):
    register(case, json=case.answer)
    minted = provider.create_session(api_key=KEY, config=case.config())
    request = responses.calls[0].request
    assert request.url == case.mint_url
    assert request.headers[case.auth[0]] == case.auth[1]
    assert KEY not in request.body.decode()
    case.check_body(json.loads(request.body))
    assert isinstance(minted, ProviderSession)
    assert minted.client_secret.startswith("ek_")
    assert minted.expires_at > 0
    assert minted.webrtc_url == case.webrtc_url
    assert (minted.data_channel, minted.codecs) == ("oai-events", ("opus",))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, errors.ProviderAuthFailed),
        (403, errors.ProviderAuthFailed),
        (429, errors.ProviderRateLimited),
        (400, errors.ProviderRejected),
        (404, errors.ProviderRejected),
        (500, errors.ProviderUnavailable),
        (503, errors.ProviderUnavailable),
        (302, errors.ProviderUnavailable),
    ],
)
@responses.activate
def test_maps_every_failure_to_our_own_error(case, provider, status, error):
    register(case, status=status, json={"error": {"type": "x", "code": "y", "message": f"key {KEY}"}})
    with pytest.raises(error) as caught:
        provider.create_session(api_key=KEY, config=case.config())
    assert KEY not in caught.value.message


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (requests.ConnectTimeout(), errors.ProviderTimeout),
        (requests.ReadTimeout(), errors.ProviderTimeout),
        (requests.ConnectionError(), errors.ProviderUnavailable),
    ],
)
@responses.activate
def test_maps_timeouts_and_refusals(case, provider, failure, error):
    register(case, body=failure)
    with pytest.raises(error):
        provider.create_session(api_key=KEY, config=case.config())


@pytest.mark.parametrize("answer", [{}, {"value": ""}, {"client_secret": "x"}, ["list"]])
@responses.activate
def test_an_answer_without_a_secret_is_a_bad_response(case, provider, answer):
    register(case, json=answer)
    with pytest.raises(errors.ProviderBadResponse):
        provider.create_session(api_key=KEY, config=case.config())


def test_catalog_rules(case, provider):
    config = case.config()
    assert provider.model_problem(config.model) is None
    assert provider.voice_problem("verse") is None
    assert provider.voice_problem("darth")
    assert provider.endpoint_problem(case.endpoint, case.options) is None
    insecure = case.endpoint.replace("https://", "http://").replace("127.0.0.1", "provider.example")
    assert provider.endpoint_problem(insecure, case.options)
    assert provider.endpoint_problem(case.endpoint + "?x=1", case.options)
    serializer = provider.options_serializer(data=case.options)
    assert serializer.is_valid(), serializer.errors
    assert not provider.options_serializer(data={**case.options, "bogus": 1}).is_valid()


UNIFIED = [name for name, case in CASES.items() if case.calls_url]


def test_every_provider_offering_the_unified_interface_has_a_case():
    assert {CASES[name].provider for name in UNIFIED} == {p.id for p in registry.all() if p.supports_unified}


@pytest.mark.parametrize("name", UNIFIED)
@responses.activate
def test_the_unified_call_posts_the_offer_and_the_session(name):
    case = CASES[name]
    provider = registry.get(case.provider)
    responses.post(case.calls_url, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_123"})
    call = provider.create_call(api_key=KEY, config=case.config(), offer_sdp=OFFER)
    request = responses.calls[0].request
    assert request.headers[case.auth[0]] == case.auth[1]
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    fields = _multipart_fields(request)
    assert fields["sdp"] == ("application/sdp", OFFER)
    content_type, session = fields["session"]
    assert content_type == "application/json"
    session = json.loads(session)
    assert TypeAdapter(RealtimeSessionCreateRequestParam).validate_python(session) == session
    assert call == ProviderCall(answer_sdp=ANSWER, call_id="rtc_123")


def _multipart_fields(request):
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.body
    )
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_content_type(),
            part.get_payload(decode=True).decode(),
        )
        for part in message.iter_parts()
    }


def test_the_preview_interface_needs_a_region():
    provider = registry.get("azure_openai")
    serializer = provider.options_serializer(data={"interface": "preview"})
    assert not serializer.is_valid()
    assert "region" in serializer.errors


def test_azure_endpoints_must_be_on_an_azure_resource():
    provider = registry.get("azure_openai")
    assert "your resource" in provider.endpoint_problem("https://evil.example/openai/v1/realtime/client_secrets")


def test_the_preview_api_version_is_configurable():
    case = CASES["azure-preview"]
    with responses.RequestsMock() as mock:
        mock.post(case.mint_url.split("?")[0], json=case.answer)
        registry.get("azure_openai").create_session(
            api_key=KEY, config=case.config(options={**case.options, "api_version": "2025-08-28"})
        )
        assert parse_qs(urlsplit(mock.calls[0].request.url).query) == {"api-version": ["2025-08-28"]}
