"""The webhook client against a real HTTPS server (a throwaway CA the gateway is told to trust)."""

import asyncio
import json

import pytest
from standardwebhooks.webhooks import Webhook

from speech.tools.webhook import ToolFailure, webhook_body, webhook_call

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def call(server, path, *, timeout=3.0, arguments=None):
    body = webhook_body(tool="check_order", arguments=arguments or {"order": 123}, call_id="c-1", tenant="acme",
                        user_id=7)  # fmt: skip
    return asyncio.run(webhook_call(url=server.url(path), secret=SECRET, body=body, timeout_seconds=timeout))


def failure(server, path, **kwargs):
    with pytest.raises(ToolFailure) as caught:
        call(server, path, **kwargs)
    return caught.value.code


def test_the_request_is_signed_per_standard_webhooks_and_the_answer_returned(webhook_server):
    webhook_server.answer("/ok", {"status": "shipped"})
    assert call(webhook_server, "/ok") == {"status": "shipped"}
    _, body, headers = webhook_server.wait_for(1)
    assert Webhook(SECRET).verify(body, headers) == {
        "tool": "check_order", "arguments": {"order": 123}, "call": {"id": "c-1", "tenant": "acme", "user_id": 7},
    }  # fmt: skip
    assert headers["Content-Type"] == "application/json"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "b3RoZXIgc2VjcmV0IG9mIDMyIGJ5dGVzIGxvbmcuLi4=").verify(body, headers)


def test_a_text_answer_is_passed_on_as_text(webhook_server):
    webhook_server.answer("/text", raw=b"open until 6 pm")
    assert call(webhook_server, "/text") == "open until 6 pm"


def test_a_slow_webhook_ends_at_the_deadline(webhook_server):
    webhook_server.answer("/slow", {"late": True}, delay=3)
    assert failure(webhook_server, "/slow", timeout=0.5) == "webhook_timeout"


@pytest.mark.parametrize("status", [500, 404, 302])
def test_a_non_2xx_answer_is_an_error_and_a_redirect_is_not_followed(webhook_server, status):
    webhook_server.answer("/status", {"oops": True}, status=status)
    webhook_server.answer("/ok", {"followed": True})
    assert failure(webhook_server, "/status") == "webhook_status"
    assert [path for path, _, _ in webhook_server.requests] == ["/status"]


def test_an_oversized_answer_is_refused(webhook_server, settings):
    settings.SPEECH_TOOL_MAX_RESPONSE_BYTES = 1000
    webhook_server.answer("/big", {"blob": "x" * 1000})
    webhook_server.answer("/fits", {"blob": "x" * 900})
    assert failure(webhook_server, "/big") == "webhook_too_large"
    assert call(webhook_server, "/fits") == {"blob": "x" * 900}


def test_a_host_the_operator_does_not_allow_is_not_called(webhook_server, settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com"]
    webhook_server.answer("/ok", {"status": "shipped"})
    assert failure(webhook_server, "/ok") == "forbidden_host"
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["*"]  # any public host: a loopback one still needs naming
    assert failure(webhook_server, "/ok") == "forbidden_host"
    assert webhook_server.requests == []


def test_without_the_operator_ca_the_certificate_is_refused(webhook_server, settings):
    settings.SPEECH_TOOL_CA_BUNDLE = ""
    webhook_server.answer("/ok", {"status": "shipped"})
    assert failure(webhook_server, "/ok") == "webhook_unreachable"


def test_proxies_from_the_environment_are_not_used(webhook_server, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    webhook_server.answer("/ok", {"status": "shipped"})
    assert call(webhook_server, "/ok") == {"status": "shipped"}


def test_the_body_is_compact_json_with_the_call_context():
    body = webhook_body(tool="t", arguments={"a": 1}, call_id="c", tenant="acme", user_id=None)
    assert json.loads(body) == {
        "tool": "t",
        "arguments": {"a": 1},
        "call": {"id": "c", "tenant": "acme", "user_id": None},
    }


def test_a_ca_bundle_that_cannot_be_read_fails_the_run_with_a_log_line(webhook_server, settings, tmp_path, caplog):
    settings.SPEECH_TOOL_CA_BUNDLE = str(tmp_path / "missing.pem")
    webhook_server.answer("/ok", {"status": "shipped"})
    assert failure(webhook_server, "/ok") == "webhook_unreachable"
    assert "SPEECH_TOOL_CA_BUNDLE" in caplog.text
    assert webhook_server.requests == []
