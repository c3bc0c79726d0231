"""An MCP tool's authorization and headers are write-only at the local provider, as at OpenAI: they are in no
mint answer, in no client secret (its payload is signed, not encrypted: whoever holds one can read it) and in
no server event, on the data channel or a WebSocket."""

import asyncio
import base64
import json
import zlib

from speech.local.client_secrets import PREFIX, client_secret_read
from tests.speech.local.rtc_client import RtcClient
from tests.speech.local.test_local_openai_sdk import client_for, receive_until

TOKEN = "Bearer SUPER-SECRET-TOKEN-4c2a"
HEADER = "x-mcp-header-secret-91b7"
MCP = {"type": "mcp", "server_label": "crm", "server_url": "https://mcp.example.com/sse", "allowed_tools": ["find"],
       "require_approval": "never", "authorization": TOKEN, "headers": {"X-Api-Key": HEADER}}  # fmt: skip
FUNCTION = {"type": "function", "name": "check_order", "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {}}}  # fmt: skip
SESSION = {"type": "realtime", "model": "local-echo", "tools": [MCP, FUNCTION]}


def client_secret_payload(value):
    """What anyone holding a local client secret reads in it, with no key: its JSON payload, as text."""
    body = value.removeprefix(PREFIX).rpartition(".")[0]
    return zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()


def assert_no_credentials(text):
    assert TOKEN not in text and "SUPER-SECRET" not in text
    assert HEADER not in text


def test_the_mint_answer_and_its_client_secret_carry_no_mcp_credentials(caller, service):
    response = caller.mint_request({"session": SESSION})
    assert response.status_code == 200, response.text
    assert_no_credentials(response.text)
    value = response.json()["value"]
    assert_no_credentials(client_secret_payload(value))
    tools = client_secret_read(value, master=service.api_key).session["tools"]
    # The tools are kept otherwise whole: the model still calls the function tool, and the MCP entry is echoed.
    assert tools == [{key: v for key, v in MCP.items() if key not in ("authorization", "headers")}, FUNCTION]


def test_no_event_of_a_websocket_session_carries_mcp_credentials(caller):
    client = client_for(caller.service, caller.mint(SESSION))
    received = []
    with client.realtime.connect(model="local-echo") as connection:
        created = receive_until(connection, "session.created", received)
        assert [tool["type"] for tool in created["session"]["tools"]] == ["mcp", "function"]
        # A session.update that brings its own MCP credentials is not echoed with them either.
        connection.send({"type": "session.update", "session": {"type": "realtime", "tools": [MCP]}})
        updated = receive_until(connection, "session.updated", received)
        assert updated["session"]["tools"][0]["server_label"] == "crm"
        connection.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}})  # fmt: skip
        connection.send({"type": "response.create"})
        receive_until(connection, "response.done", received)
    assert_no_credentials(json.dumps(received))


def test_no_event_on_the_data_channel_carries_mcp_credentials(caller):
    async def scenario():
        rtc = RtcClient()
        created = await rtc.connect(caller.post_offer, caller.mint(SESSION))
        assert [tool["type"] for tool in created["session"]["tools"]] == ["mcp", "function"]
        try:
            rtc.send({"type": "session.update", "session": {"type": "realtime", "tools": [MCP, FUNCTION]}})
            await rtc.wait_for("session.updated")
        finally:
            await rtc.close()
        return rtc.received

    received = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert {"session.created", "session.updated"} <= {event["type"] for event in received}
    assert_no_credentials(json.dumps(received))
