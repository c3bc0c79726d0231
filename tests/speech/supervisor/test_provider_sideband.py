"""The providers' side of supervision: the sideband's URL and headers, and the hang-up, in OpenAI's and Azure's
shapes (their HTTP faked with `responses`; the shapes checked against what the `openai` SDK itself sends)."""

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
import responses
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus

from speech import errors
from speech.calls.models import Call, CallStatus
from speech.providers.azure_openai import AzureOpenAIProvider
from speech.providers.local import LocalRealtimeProvider
from speech.providers.openai_realtime import OpenAIRealtimeProvider
from speech.supervisor.session import target_load

OPENAI_ENDPOINT = "https://api.openai.com/v1/realtime/client_secrets"
AZURE_ENDPOINT = "https://contoso.openai.azure.com/openai/v1/realtime/client_secrets"
KEY = "sk-server-key"


def test_openai_sideband_url_and_headers():
    provider = OpenAIRealtimeProvider()
    assert provider.sideband_problem(options={}) is None
    assert provider.sideband_url(endpoint=OPENAI_ENDPOINT, call_id="rtc_abc123") == (
        "wss://api.openai.com/v1/realtime?call_id=rtc_abc123"
    )
    assert provider.sideband_headers(api_key=KEY) == {"Authorization": f"Bearer {KEY}"}


def test_azure_sideband_url_and_headers():
    provider = AzureOpenAIProvider()
    assert provider.sideband_url(endpoint=AZURE_ENDPOINT, call_id="rtc_abc123") == (
        "wss://contoso.openai.azure.com/openai/v1/realtime?call_id=rtc_abc123"
    )
    assert provider.sideband_headers(api_key=KEY) == {"api-key": KEY}
    assert provider.sideband_headers(api_key="entra-token", options={"auth": "entra"}) == {
        "Authorization": "Bearer entra-token"
    }


def test_the_local_sideband_is_the_services_websocket(settings):
    settings.LOCAL_REALTIME_URL = "http://127.0.0.1:8001/v1"
    provider = LocalRealtimeProvider()
    assert provider.sideband_url(endpoint=provider.default_endpoint, call_id="rtc_1") == (
        "ws://127.0.0.1:8001/v1/realtime?call_id=rtc_1"
    )


def test_interfaces_without_a_sideband_say_so():
    assert "beta" in OpenAIRealtimeProvider().sideband_problem(options={"interface": "beta"})
    assert "preview" in AzureOpenAIProvider().sideband_problem(options={"interface": "preview", "region": "eastus2"})


@pytest.mark.parametrize("call_id", ["", "rtc_1/../../files", "rtc_1?x=1", "rtc 1", "rtc_1#", "ü", "r" * 129])
def test_a_malformed_call_id_never_reaches_a_url(call_id):
    provider = OpenAIRealtimeProvider()
    with pytest.raises(errors.ProviderBadResponse):
        provider.sideband_url(endpoint=OPENAI_ENDPOINT, call_id=call_id)
    # Any request would fail the test: none is registered.
    with responses.RequestsMock(), pytest.raises(errors.ProviderBadResponse):
        provider.call_hang_up(api_key=KEY, endpoint=OPENAI_ENDPOINT, call_id=call_id)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, True), (204, True), (404, False), (401, errors.ProviderAuthFailed), (429, errors.ProviderRateLimited),
     (400, errors.ProviderRejected), (500, errors.ProviderUnavailable)],
)  # fmt: skip
def test_openai_hang_up(status, outcome):
    url = "https://api.openai.com/v1/realtime/calls/rtc_abc/hangup"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, url, status=status, json={"error": {"code": "x"}} if status >= 400 else None)
        if isinstance(outcome, bool):
            hung_up = OpenAIRealtimeProvider().call_hang_up(api_key=KEY, endpoint=OPENAI_ENDPOINT, call_id="rtc_abc")
            assert hung_up is outcome
        else:
            with pytest.raises(outcome):
                OpenAIRealtimeProvider().call_hang_up(api_key=KEY, endpoint=OPENAI_ENDPOINT, call_id="rtc_abc")
        sent = mock.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert not sent.body


def test_azure_hang_up_goes_to_the_resource_with_its_api_key():
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://contoso.openai.azure.com/openai/v1/realtime/calls/rtc_abc/hangup", status=200)
        assert AzureOpenAIProvider().call_hang_up(api_key=KEY, endpoint=AZURE_ENDPOINT, call_id="rtc_abc") is True
        sent = mock.calls[0].request
    assert sent.headers["api-key"] == KEY
    assert "Authorization" not in sent.headers


def test_a_hang_up_that_never_answers_ends_within_the_deadline(settings):
    import requests

    settings.SPEECH_PROVIDER_DEADLINE_SECONDS = 1
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://api.openai.com/v1/realtime/calls/rtc_abc/hangup",
                 body=requests.Timeout())  # fmt: skip
        with pytest.raises(errors.ProviderTimeout):
            OpenAIRealtimeProvider().call_hang_up(api_key=KEY, endpoint=OPENAI_ENDPOINT, call_id="rtc_abc")


# --- the same requests the openai SDK makes --------------------------------------------------------------------


class Recording(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        Recording.seen.append((self.command, self.path, self.headers.get("Authorization"), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_hang_up_is_the_sdks_hang_up():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/v1"
    Recording.seen.clear()
    try:
        openai.OpenAI(api_key=KEY, base_url=base, max_retries=0).realtime.calls.hangup("rtc_abc")
        OpenAIRealtimeProvider().call_hang_up(
            api_key=KEY, endpoint=f"{base}/realtime/client_secrets", call_id="rtc_abc"
        )
    finally:
        server.shutdown()
    sdk, ours = Recording.seen
    assert ours == sdk == ("POST", "/v1/realtime/calls/rtc_abc/hangup", f"Bearer {KEY}", b"")


def test_the_sideband_is_the_sdks_connect_call_id():
    seen = []

    def record(connection, request):
        seen.append((request.path, request.headers.get("Authorization")))
        return connection.respond(404, "no such call\n")

    async def scenario():
        async with serve(lambda ws: None, "127.0.0.1", 0, process_request=record) as server:
            port = server.sockets[0].getsockname()[1]
            client = openai.AsyncOpenAI(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
            with pytest.raises(InvalidStatus):
                async with client.realtime.connect(call_id="rtc_abc"):
                    pass
            provider = OpenAIRealtimeProvider()
            endpoint = f"http://127.0.0.1:{port}/v1/realtime/client_secrets"
            url = provider.sideband_url(endpoint=endpoint, call_id="rtc_abc")

            with pytest.raises(InvalidStatus):
                async with connect(url, additional_headers=provider.sideband_headers(api_key=KEY)):
                    pass

    asyncio.run(asyncio.wait_for(scenario(), 20))
    sdk, ours = seen
    assert ours == sdk
    assert sdk[0].startswith("/v1/realtime?") and "call_id=rtc_abc" in sdk[0]


@pytest.mark.django_db
def test_the_minted_session_is_checked_only_where_the_provider_names_it_on_the_sideband(speech_settings):
    """OpenAI does not document that a call's session id is its secret's: checking it there could end every call."""
    call = Call.objects.create(
        tenant=speech_settings.tenant, provider="openai_realtime", model="gpt-realtime", voice="verse",
        webrtc_mode="direct", minted_at=timezone.now(), status=CallStatus.ACTIVE, provider_call_id="rtc_abc",
        provider_session_id="sess_minted",
    )  # fmt: skip
    assert target_load(call_id=str(call.pk)).provider_session_id == ""
    assert not OpenAIRealtimeProvider.sideband_names_minted_session
    assert LocalRealtimeProvider.sideband_names_minted_session
