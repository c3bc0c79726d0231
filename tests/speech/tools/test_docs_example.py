"""docs/tools.md, run as documented: its webhook server is served over HTTPS (a throwaway CA from trustme) and
sent the gateway's own signed request (speech/tools/webhook.py), then a forged and a tampered one; its curl
commands are sent to the API in order. The examples cannot rot without this failing."""

import asyncio
import http.client
import json
import re
import shlex
import ssl
import threading
import types
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from django.test import Client
from standardwebhooks.webhooks import Webhook

from settings_admin.models import KeyScope, TenantAPIKey
from speech.tools.models import Tool
from speech.tools.webhook import ToolFailure, webhook_body, webhook_call, webhook_headers

DOC = Path(__file__).resolve().parents[3] / "docs" / "tools.md"
GATEWAY = "https://voice.example.com"  # the gateway in the doc's examples
SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtZG9jcy1leGFtcGxlLTMyYg=="  # base64 of 32 bytes of text
OTHER_SECRET = "whsec_" + "YW5vdGhlci1zZWNyZXQtbm90LXRoZS10b29scy0zMg=="


def documented_server():
    """The Python block of the section "Verifying the signature in your webhook server", as a module."""
    text = DOC.read_text()
    section = text.split("## Verifying the signature in your webhook server", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one Python example"
    module = types.ModuleType("tool_webhook_example")
    exec(compile(blocks[0], str(DOC), "exec"), module.__dict__)  # noqa: S102 - the project's own documentation
    return module


@pytest.fixture
def example(monkeypatch, tmp_path, settings):
    """The documented server on 127.0.0.1 over HTTPS; its URL, and the gateway trusting the test's CA."""
    monkeypatch.setenv("TOOL_WEBHOOK_SECRET", SECRET)
    module = documented_server()
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.ToolWebhook)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    port = server.server_address[1]
    settings.SPEECH_TOOL_CA_BUNDLE = str(bundle)
    settings.SPEECH_TOOL_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]  # a loopback address: allowed by name only
    yield types.SimpleNamespace(url=f"https://127.0.0.1:{port}/tools", port=port, ca=ca)
    server.shutdown()
    server.server_close()


def call(example, *, secret=SECRET, tool="check_order", arguments=None):
    body = webhook_body(tool=tool, arguments=arguments or {"order": 123}, call_id="6f1c", tenant="default",
                        user_id=7)  # fmt: skip
    return asyncio.run(webhook_call(url=example.url, secret=secret, body=body, timeout_seconds=5))


def raw_post(example, body, headers):
    context = ssl.create_default_context()
    example.ca.configure_trust(context)
    connection = http.client.HTTPSConnection("127.0.0.1", example.port, context=context, timeout=5)
    try:
        connection.request("POST", "/tools", body=body, headers={"Content-Type": "application/json", **headers})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_gateways_signed_request_is_verified_and_answered(example):
    assert call(example) == {"order": 123, "status": "shipped"}
    # The signature the example checks is the one standardwebhooks computes itself.
    body = webhook_body(tool="check_order", arguments={"order": 5}, call_id="c", tenant="t", user_id=None)
    headers = webhook_headers(secret=SECRET, body=body)
    assert Webhook(SECRET).verify(body, headers)["arguments"] == {"order": 5}


def test_bad_arguments_are_answered_as_an_error_the_model_can_speak_about(example):
    assert call(example, arguments={"parcel": 1}) == {
        "error": {"code": "bad_arguments", "message": "check_order() got an unexpected keyword argument 'parcel'"}
    }


def test_a_request_signed_with_another_secret_is_refused(example):
    with pytest.raises(ToolFailure) as failure:
        call(example, secret=OTHER_SECRET)
    assert (failure.value.code, failure.value.message) == ("webhook_status", "The webhook answered HTTP 401.")


def test_a_tampered_body_and_malformed_headers_are_refused(example):
    body = webhook_body(tool="check_order", arguments={"order": 1}, call_id="c", tenant="t", user_id=None)
    headers = webhook_headers(secret=SECRET, body=body)
    assert raw_post(example, body, headers)[0] == 200
    tampered = body.replace(b'"order":1', b'"order":2')
    assert raw_post(example, tampered, headers) == (
        401, b'{"error": {"code": "bad_signature", "message": "Not from the gateway."}}'
    )  # fmt: skip
    assert raw_post(example, body, {**headers, "webhook-signature": "garbage"})[0] == 401
    assert raw_post(example, body, {**headers, "webhook-signature": "v1,!!notbase64"})[0] == 401
    assert raw_post(example, body, {"webhook-id": "x"})[0] == 401
    assert raw_post(example, b"", headers)[0] == 413


def documented_curls():
    """Every curl command in docs/tools.md's sh blocks, as (method, path, headers, JSON body or None)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        tokens = shlex.split(block, comments=True)  # a quoted JSON body may span lines
        starts = [index for index, token in enumerate(tokens) if token == "curl"]
        for start, end in zip(starts, [*starts[1:], len(tokens)], strict=False):
            words = tokens[start:end]
            method, headers, body, path = "GET", {}, None, None
            for flag, value in zip(words, words[1:], strict=False):
                if flag == "-X":
                    method = value
                elif flag == "-H":
                    name, _, text = value.partition(": ")
                    headers[name] = text
                elif flag == "-d":
                    body = json.loads(value)
            path = next(word for word in words if word.startswith(GATEWAY)).removeprefix(GATEWAY)
            commands.append((method, path, headers, body))
    return commands


@pytest.mark.django_db
def test_the_documented_curl_commands_work_in_order(vault, speech_settings, settings):
    """Adding, listing, disabling, re-keying and removing a webhook tool, a built-in and an MCP server, as the
    doc shows them (ids as the answers give them)."""
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com", "mcp.example.com"]
    key = TenantAPIKey.objects.create_key(name="ops", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]
    client = Client()
    commands = documented_curls()
    assert [(method, path) for method, path, _, _ in commands] == [
        ("POST", "/api/v1/tools"), ("GET", "/api/v1/tools"), ("PATCH", "/api/v1/tools/1"),
        ("POST", "/api/v1/tools/1/webhook_secret"), ("DELETE", "/api/v1/tools/1"), ("POST", "/api/v1/tools"),
        ("POST", "/api/v1/mcp_servers"),
    ]  # fmt: skip
    answers, tool_id = [], None
    for method, path, headers, body in commands:
        assert headers["Authorization"] == "Api-Key $ADMIN_KEY"
        if tool_id is not None:
            path = path.replace("/tools/1", f"/tools/{tool_id}")
        answer = client.generic(method, path, data=json.dumps(body) if body is not None else "",
                                content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")  # fmt: skip
        assert answer.status_code in (200, 201, 204), (method, path, answer.content)
        answers.append(answer)
        if tool_id is None:
            tool_id = answer.json()["id"]
    created, listed, disabled, rotated, _, builtin, mcp = answers
    assert created.status_code == 201 and created.json()["webhook_secret"].startswith("whsec_")
    assert [tool["name"] for tool in listed.json()] == ["check_order"] and "webhook_secret" not in listed.json()[0]
    assert disabled.json()["enabled"] is False
    assert rotated.json()["webhook_secret"] not in (None, created.json()["webhook_secret"])
    assert builtin.json()["name"] == "end_call" and builtin.json()["parameters"]["properties"]["reason"]
    assert mcp.json()["authorization_set"] is True and "crm-token" not in mcp.content.decode()
    assert not Tool.objects.filter(name="check_order").exists()
