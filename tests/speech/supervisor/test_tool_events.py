"""The tool runner's answers to MCP approval requests: the supervisor's sideband is a real WebSocket (a server in
the test keeps what it is sent), the tenant's MCP servers real rows."""

import asyncio
import json
import secrets
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from settings_admin.models import Tenant
from speech.calls.models import Call, ToolRun, ToolRunStatus
from speech.supervisor.session import CallSupervisor, Target
from speech.tools.models import McpServer

from .conftest import metric, run, until
from .test_events import policy


class Peer:
    """The provider's end of a sideband: keeps every event the supervisor sends."""

    def __init__(self):
        self.sent = asyncio.Queue()

    async def handler(self, websocket):
        async for message in websocket:
            self.sent.put_nowait(json.loads(message))

    async def next(self, seconds=5):
        return await asyncio.wait_for(self.sent.get(), seconds)


@pytest.fixture
def tenant(transactional_db):
    return Tenant.objects.create(slug="mcp" + secrets.token_hex(4), name="MCP")


def approval(tenant, request, before=()):
    """What the supervisor answers the approval request item `request` with, and the run it records."""
    call = Call.objects.create(tenant=tenant, provider="local", model="local-echo", voice="verse",
                               webrtc_mode="direct", minted_at=datetime.now(UTC))  # fmt: skip

    async def scenario():
        peer = Peer()
        async with serve(peer.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            target = Target(
                call_id=str(call.pk), tenant_id=tenant.pk, model="local-echo", provider=None, endpoint="",
                options={}, api_key="", provider_call_id="rtc_1", provider_session_id="", records_transcript=True,
                connected_at=datetime.now(UTC), policy=policy(),
            )  # fmt: skip
            sup = CallSupervisor(target=target, stop=asyncio.Event())
            sup.recorder.start()
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                sup.ws = ws
                for event in before:
                    sup.handle(json.dumps(event))
                sup.handle(json.dumps({"type": "conversation.item.added", "item": request}))
                sup.handle(json.dumps({"type": "conversation.item.done", "item": request}))  # answered once
                answer, then = await peer.next(), await peer.next()
                await until(lambda: ToolRun.objects.filter(call=call).exists())
                await sup.recorder.close()
                assert peer.sent.empty()
        return answer, then

    answer, then = run(scenario())
    assert then == {"type": "response.create"}
    assert answer["type"] == "conversation.item.create"
    return answer["item"], ToolRun.objects.get(call=call)


REQUEST = {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "docs", "name": "search",
           "arguments": '{"q": "refunds"}'}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "approved"),
    [
        ({"require_approval": "always", "approved_tools": ["search"]}, True),
        ({"require_approval": "always", "approved_tools": ["fetch"]}, False),
        ({"require_approval": "never"}, True),
        ({"require_approval": "never", "allowed_tools": ["fetch"]}, False),
        ({"require_approval": "always", "approved_tools": ["search"], "enabled": False}, False),
    ],
)
def test_an_mcp_approval_request_is_answered_per_the_server_rule(tenant, fields, approved):
    McpServer.objects.create(tenant=tenant, server_label="docs", server_url="https://mcp.example.com/sse", **fields)
    outcome = "ok" if approved else "mcp_denied"
    before = metric("tool_runs_total", kind="mcp_approval", outcome=outcome)
    item, record = approval(tenant, REQUEST)
    assert item == {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": approved}
    assert (record.name, record.kind, record.provider_call_id) == ("docs.search", "mcp", "mcpr_1")
    assert record.status == (ToolRunStatus.SUCCEEDED if approved else ToolRunStatus.FAILED)
    assert metric("tool_runs_total", kind="mcp_approval", outcome=outcome) == before + 1


def session_echo(*tools):
    return {"type": "session.updated", "session": {"type": "realtime", "id": "sess_1", "tools": list(tools)}}


@pytest.mark.parametrize(
    ("echoed", "approved"),
    [
        ("https://mcp.example.com/sse", True),  # the tenant's own server, as minted
        ("https://mcp.attacker.example/sse", False),  # a browser's session.update re-pointed the label
        (None, False),  # the label names something other than a server URL (a connector)
    ],
)
def test_an_approval_for_a_label_the_session_points_elsewhere_is_denied(tenant, echoed, approved):
    McpServer.objects.create(tenant=tenant, server_label="docs", server_url="https://mcp.example.com/sse",
                             require_approval="always", approved_tools=["search"])  # fmt: skip
    entry = {"type": "mcp", "server_label": "docs", "require_approval": "always"}
    if echoed is not None:
        entry["server_url"] = echoed
    else:
        entry["connector_id"] = "connector_gmail"
    item, record = approval(tenant, REQUEST, before=[session_echo({"type": "function", "name": "x"}, entry)])
    assert item["approve"] is approved
    assert record.error_code == ("" if approved else "mcp_denied")


def test_an_approval_request_for_another_tenant_s_server_is_denied(tenant):
    other = Tenant.objects.create(slug="other" + secrets.token_hex(4), name="Other")
    McpServer.objects.create(tenant=other, server_label="docs", server_url="https://mcp.example.com/sse",
                             require_approval="always", approved_tools=["search"])  # fmt: skip
    item, record = approval(tenant, REQUEST)
    assert item["approve"] is False
    assert record.error_code == "mcp_denied"


def supervise_events(tenant, events, *, replies, rows):
    """Feeds `events` to a supervisor of a new call of `tenant`; returns the first `replies` events it sends,
    once `rows` ToolRun rows are written."""
    call = Call.objects.create(tenant=tenant, provider="local", model="local-echo", voice="verse",
                               webrtc_mode="direct", minted_at=datetime.now(UTC))  # fmt: skip

    async def scenario():
        peer = Peer()
        async with serve(peer.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            target = Target(
                call_id=str(call.pk), tenant_id=tenant.pk, model="local-echo", provider=None, endpoint="",
                options={}, api_key="", provider_call_id="rtc_1", provider_session_id="", records_transcript=True,
                connected_at=datetime.now(UTC), policy=policy(),
            )  # fmt: skip
            sup = CallSupervisor(target=target, stop=asyncio.Event())
            sup.recorder.start()
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                sup.ws = ws
                for event in events:
                    sup.handle(json.dumps(event))
                sent = [await peer.next() for _ in range(replies)]
                await until(lambda: ToolRun.objects.filter(call=call).count() >= rows)
                await sup.recorder.close()
        return sent

    return call, run(scenario())


def test_a_name_longer_than_a_tool_name_is_no_tool_even_if_it_begins_with_one(tenant):
    from speech.tools.models import Tool

    Tool.objects.create(tenant=tenant, name="a" * 64, kind="builtin", builtin="current_time",
                        parameters={"type": "object"})  # fmt: skip
    event = {"type": "response.function_call_arguments.done", "call_id": "call_1", "name": "a" * 64 + "b",
             "arguments": "{}"}  # fmt: skip
    call, sent = supervise_events(tenant, [event], replies=2, rows=1)
    output = json.loads(sent[0]["item"]["output"])
    assert output["error"]["code"] == "unknown_tool"
    assert sent[1] == {"type": "response.create"}
    assert ToolRun.objects.get(call=call).error_code == "unknown_tool"


def test_forged_outputs_are_all_deleted_but_only_so_many_recorded(tenant, monkeypatch):
    from speech.supervisor import tools as tools_module

    monkeypatch.setattr(tools_module, "MAX_FORGED_RECORDS", 3)
    before = metric("tool_outputs_forged_total")
    events = [
        {
            "type": "conversation.item.added",
            "item": {"id": f"item_f{n}", "type": "function_call_output", "call_id": "call_x", "output": "{}"},
        }
        for n in range(6)
    ]
    call, sent = supervise_events(tenant, events, replies=6, rows=3)
    assert sorted(event["item_id"] for event in sent) == [f"item_f{n}" for n in range(6)]
    assert {event["type"] for event in sent} == {"conversation.item.delete"}
    assert ToolRun.objects.filter(call=call, status=ToolRunStatus.FORGED).count() == 3
    assert metric("tool_outputs_forged_total") == before + 6


def test_unique_items_over_a_hundred_are_refused_without_comparing_them(tenant):
    """A schema saved before maxItems was required beside uniqueItems: thousands of distinct numbers and strings (they
    cannot be sorted) would be compared pairwise, seconds of a validation thread; they are refused at once."""
    import time

    from speech.tools.models import Tool

    schema = {"type": "object", "properties": {"l": {"type": "array", "uniqueItems": True}}}
    Tool.objects.create(tenant=tenant, name="tag", kind="webhook", webhook_url="https://hooks.example.com/t",
                        parameters=schema)  # fmt: skip
    items = [value for n in range(2600) for value in (n, str(n))]
    arguments = json.dumps({"l": items}, separators=(",", ":"))
    event = {"type": "response.function_call_arguments.done", "call_id": "call_u", "name": "tag",
             "arguments": arguments}  # fmt: skip
    begun = time.monotonic()
    call, sent = supervise_events(tenant, [event], replies=1, rows=1)
    assert time.monotonic() - begun < 5
    error = json.loads(sent[0]["item"]["output"])["error"]
    assert error["code"] == "invalid_arguments" and "unique" in error["message"], error


def test_a_call_runs_at_most_four_tools_at_once_and_answers_one_more_at_once(tenant, settings):
    from speech.supervisor.tools import MAX_RUNS_IN_FLIGHT
    from speech.tools.models import Tool

    pause = {"type": "object", "properties": {"seconds": {"type": "number"}}}
    settings.SPEECH_TOOLS = {"slow_pause": {"handler": "tests.speech.supervisor.tool_handlers.pause",
                                            "parameters": pause}}  # fmt: skip
    Tool.objects.create(tenant=tenant, name="slow_pause", kind="builtin", builtin="slow_pause", parameters=pause,
                        timeout_seconds=10)  # fmt: skip
    before = metric("tool_runs_total", kind="unknown", outcome="too_many_tool_calls")
    events = [
        {"type": "response.function_call_arguments.done", "call_id": f"call_{n}", "name": "slow_pause",
         "arguments": '{"seconds": 1}'}
        for n in range(MAX_RUNS_IN_FLIGHT + 1)
    ]  # fmt: skip
    call, sent = supervise_events(tenant, events, replies=1, rows=MAX_RUNS_IN_FLIGHT + 1)
    first = sent[0]["item"]  # the one over the bound is answered before any run ends
    assert first["call_id"] == f"call_{MAX_RUNS_IN_FLIGHT}"
    assert json.loads(first["output"])["error"]["code"] == "too_many_tool_calls"
    records = {r.provider_call_id: r for r in ToolRun.objects.filter(call=call)}
    refused = records.pop(f"call_{MAX_RUNS_IN_FLIGHT}")
    assert (refused.status, refused.error_code, refused.name) == (ToolRunStatus.FAILED, "too_many_tool_calls",
                                                                  "slow_pause")  # fmt: skip
    assert {(r.status, r.result) for r in records.values()} == {(ToolRunStatus.SUCCEEDED, '{"paused":1}')}
    assert metric("tool_runs_total", kind="unknown", outcome="too_many_tool_calls") == before + 1


def test_a_tool_whose_schema_was_saved_with_a_regular_expression_is_never_validated(tenant):
    """^(a|a)+$ against 28 a's and a "!" backtracks for half a minute on a validation thread."""
    from speech.tools.models import Tool

    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a|a)+$"}}}
    Tool.objects.create(tenant=tenant, name="redos", kind="webhook", webhook_url="https://hooks.example.com/t",
                        parameters=schema)  # fmt: skip
    event = {"type": "response.function_call_arguments.done", "call_id": "call_r", "name": "redos",
             "arguments": json.dumps({"s": "a" * 28 + "!"})}  # fmt: skip
    call, sent = supervise_events(tenant, [event], replies=1, rows=1)
    assert json.loads(sent[0]["item"]["output"])["error"]["code"] == "tool_schema_invalid"
    assert ToolRun.objects.get(call=call).error_code == "tool_schema_invalid"
