"""docs/tools.md's webhook server, run as documented: it is served over HTTPS (a throwaway CA from trustme) and
sent the gateway's own signed request (speech/tools/webhook.py), then a forged and a tampered one. The example
cannot rot without this failing."""

import asyncio
import http.client
import re
import ssl
import threading
import types
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from standardwebhooks.webhooks import Webhook

from speech.tools.webhook import ToolFailure, webhook_body, webhook_call, webhook_headers

DOC = Path(__file__).resolve().parents[3] / "docs" / "tools.md"
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
