"""Minting carries the tenant's enabled tools to the provider; a browser never sees an MCP authorization."""

import json
import time

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext

from settings_admin.selectors import settings_local_clear
from speech.tools.minting import session_tools
from speech.tools.models import Tool
from speech.tools.services import mcp_server_create, tool_create, tool_update
from tests.conftest import OPENAI_MINT_URL
from tests.openai_shapes import assert_mint_body, mint_answer
from tests.speech.local.test_local_mcp_credentials import client_secret_payload

pytestmark = pytest.mark.django_db
MCP_SECRET = "Bearer mcp-authorization-5d1f0e9a"
VAULT_KEY = "sk-vault-held-key-tools-0123"
CALLS = "https://api.openai.com/v1/realtime/calls"
ANSWER = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}


@pytest.fixture(autouse=True)
def allow_list(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com", "mcp.example.com"]


@pytest.fixture
def tools(tenant):
    hook = "https://hooks.example.com/o"
    for values in (
        {"name": "check_order", "description": "Look up an order.", "parameters": ORDER, "webhook_url": hook},
        {"name": "current_time", "kind": "builtin", "builtin": "current_time"},
        {"name": "off", "webhook_url": hook, "enabled": False},
    ):
        tool_create(tenant_id=tenant.pk, values=values)


@pytest.fixture
def in_vault(vault, speech_settings, monkeypatch, tenant):
    """Vault holds the provider key, and the tenant's MCP server's authorization."""
    monkeypatch.delenv("OPENAI_API_KEY")
    vault.client().secrets.kv.v2.create_or_update_secret(
        speech_settings.credential_reference, secret={"api_key": VAULT_KEY}
    )
    mcp_server_create(
        tenant_id=tenant.pk,
        values={"server_label": "crm", "server_url": "https://mcp.example.com/sse", "allowed_tools": ["find"]},
        authorization=MCP_SECRET,
    )
    return speech_settings


def mint(client):
    return client.post("/realtime_session", data="{}", content_type="application/json")


def echoing_provider(mock):
    """OpenAI's mint endpoint, echoing the session it was asked for whole (tools and all), as a provider may."""

    def answer(request):
        body = json.loads(request.body)
        assert_mint_body(body)
        session = {"object": "realtime.session", "id": "sess_tools", **body["session"]}
        return 200, {"Content-Type": "application/json"}, json.dumps(mint_answer(session=session))

    mock.add_callback(responses.POST, OPENAI_MINT_URL, callback=answer)


def test_the_mint_sends_the_enabled_function_tools_with_tool_choice_auto(logged_in_client, speech_settings, tools,
                                                                         openai_mint):  # fmt: skip
    response = mint(logged_in_client)
    assert response.status_code == 200, response.content
    sent = json.loads(openai_mint.calls[0].request.body)["session"]  # checked against the SDK's types
    assert sent["tool_choice"] == "auto"
    assert [tool["name"] for tool in sent["tools"]] == ["check_order", "current_time"]  # not the disabled one
    check_order = sent["tools"][0]
    assert check_order == {"type": "function", "name": "check_order", "description": "Look up an order.",
                           "parameters": ORDER}  # fmt: skip
    assert sent["tools"][1]["parameters"]["type"] == "object"


def test_a_tenant_without_tools_sends_none(logged_in_client, speech_settings, openai_mint):
    assert mint(logged_in_client).status_code == 200
    sent = json.loads(openai_mint.calls[0].request.body)["session"]
    assert "tools" not in sent and "tool_choice" not in sent


def test_a_change_reaches_the_next_mint(logged_in_client, speech_settings, tools, openai_mint):
    mint(logged_in_client)
    tool_update(tool=Tool.objects.get(name="check_order"), changes={"enabled": False})
    mint(logged_in_client)
    sent = json.loads(openai_mint.calls[1].request.body)["session"]
    assert [tool["name"] for tool in sent["tools"]] == ["current_time"]


def test_the_mcp_authorization_goes_to_the_provider_only(logged_in_client, in_vault, tools):
    with responses.RequestsMock() as mock:
        mock.add_passthru("http://127.0.0.1")  # Vault
        echoing_provider(mock)
        response = mint(logged_in_client)
        sent = json.loads(mock.calls[-1].request.body)["session"]
    assert response.status_code == 200, response.content
    mcp = [tool for tool in sent["tools"] if tool["type"] == "mcp"]
    assert mcp == [{"type": "mcp", "server_label": "crm", "server_url": "https://mcp.example.com/sse",
                    "require_approval": "never", "allowed_tools": ["find"], "authorization": MCP_SECRET}]  # fmt: skip
    # the provider echoed it; the browser's answer has the server entry without it
    answer = response.content.decode()
    assert MCP_SECRET not in answer and "mcp-authorization" not in answer
    echoed = [tool for tool in response.json()["session"]["tools"] if tool["type"] == "mcp"]
    assert echoed == [{key: value for key, value in mcp[0].items() if key != "authorization"}]
    page = logged_in_client.get("/")
    assert page.status_code == 200 and MCP_SECRET not in page.content.decode()


def test_the_unified_relay_sends_the_tools_in_its_multipart_session(logged_in_client, in_vault, tools):
    in_vault.webrtc_mode = "unified"
    in_vault.save()
    with responses.RequestsMock() as mock:
        mock.add_passthru("http://127.0.0.1")
        mock.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_7"})
        described = mint(logged_in_client)
        relay_url = described.json()["webrtc"]["url"]
        relayed = logged_in_client.post(relay_url, data="v=0\r\n", content_type="application/sdp")
        body = mock.calls[-1].request.body
    assert relayed.status_code == 201, relayed.content
    body = body.decode() if isinstance(body, bytes) else body
    session = json.loads(body.split('name="session"')[1].split("\r\n\r\n", 1)[1].split("\r\n--")[0])
    assert {tool["name"] if tool["type"] == "function" else tool["server_label"] for tool in session["tools"]} == {
        "check_order", "current_time", "crm",
    }  # fmt: skip
    assert session["tool_choice"] == "auto"
    assert MCP_SECRET in body  # to the provider, with the server key
    for answer in (described, relayed):
        assert MCP_SECRET not in answer.content.decode()


def test_the_local_provider_echo_is_redacted_too(logged_in_client, in_vault, tools, local_provider):
    in_vault.provider, in_vault.model, in_vault.voice, in_vault.endpoint = "local", "local-echo", "verse", ""
    in_vault.save()
    response = mint(logged_in_client)
    assert response.status_code == 200, response.content
    session = response.json()["session"]
    assert {tool.get("server_label") for tool in session["tools"]} >= {"crm"}  # the local model echoes tools
    assert MCP_SECRET not in response.content.decode()
    # Nor inside the local client secret, whose payload the page can read without any key.
    assert MCP_SECRET not in client_secret_payload(response.json()["client_secret"]["value"])


def test_a_warm_mint_reads_tools_from_the_cache(logged_in_client, speech_settings, tools, openai_mint):
    settings_local_clear()  # as if the tools' transaction had committed (a test's never does)
    mint(logged_in_client)
    with CaptureQueriesContext(connection) as queries:
        assert mint(logged_in_client).status_code == 200
    assert not [query["sql"] for query in queries if "speech_tool" in query["sql"] or "mcpserver" in query["sql"]]
    started = time.perf_counter()
    for _ in range(1000):
        session_tools(tenant_id=speech_settings.tenant_id)
    assert (time.perf_counter() - started) / 1000 < 0.002  # well under a millisecond each, warm


def test_an_mcp_server_no_longer_allowed_is_left_out_with_its_authorization(logged_in_client, in_vault, settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com"]  # the operator dropped mcp.example.com
    with responses.RequestsMock() as mock:
        mock.add_passthru("http://127.0.0.1")
        echoing_provider(mock)
        assert mint(logged_in_client).status_code == 200
        sent = mock.calls[-1].request.body.decode()
    assert MCP_SECRET not in sent and "mcp.example.com" not in sent
