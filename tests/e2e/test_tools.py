"""Tools end to end (docs/tools.md): a real Chromium calls the local provider through the gateway; a typed message
naming a tool makes the local model call it (docs/local-provider.md, "Function calling"); the supervisor runs it
(a tenant webhook served over HTTPS in the test, or a built-in), the answer is spoken, the run is in the call's
record, and the page and the admin's call page show it."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import trustme
from django.contrib.auth import get_user_model
from standardwebhooks.webhooks import Webhook

from settings_admin.models import KeyScope, Tenant, TenantAPIKey, UserPreference
from speech.calls.models import Call, CallStatus, EndReason, ToolRun, ToolRunStatus
from speech.tools.models import ToolKind
from speech.tools.services import tool_create
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_calls import connect, policy, until

ROOT_PASSWORD = "e2e-root-password-correct-horse"
ORDER_PARAMETERS = {
    "type": "object",
    "properties": {"order": {"type": "integer", "description": "The order number."}},
    "required": ["order"],
    "additionalProperties": False,
}


class TenantWebhook:
    """The tenant's tool server: HTTPS on 127.0.0.1 with a certificate of a throwaway CA. It records each request
    and answers once the test opens its gate (so the test can see the run in progress first)."""

    def __init__(self, tmp_path):
        self.requests = []
        self.gate = threading.Event()
        self.status, self.answer = 200, {"order": 123, "status": "shipped"}
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.ca_bundle = tmp_path / "tool-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                webhook.requests.append((dict(self.headers), body))
                webhook.gate.wait(10)
                data = json.dumps(webhook.answer).encode()
                self.send_response(webhook.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/tools"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tenant_webhook(tmp_path, settings):
    """The webhook, trusted by the gateway through the operator's CA bundle and allowed by its host allow-list
    (a loopback address is refused unless the allow-list names it)."""
    webhook = TenantWebhook(tmp_path)
    settings.SPEECH_TOOL_CA_BUNDLE = str(webhook.ca_bundle)
    settings.SPEECH_TOOL_ALLOWED_HOSTS = [f"127.0.0.1:{webhook.port}"]
    yield webhook
    webhook.close()


def add_tool(**values):
    """A tool of the default tenant, through the service admin and the API use (its rules checked)."""
    return tool_create(tenant_id=Tenant.objects.get(slug="default").pk, values=values).tool


def add_tool_by_api(base_url, **values):
    """A tool added as docs/tools.md shows a tenant: POST /api/v1/tools with an admin-scoped API key.
    Returns the answer, which alone shows the webhook's signing secret."""
    key = TenantAPIKey.objects.create_key(name="ops", tenant=Tenant.objects.get(slug="default"),
                                          scope=KeyScope.ADMIN)[1]  # fmt: skip
    answer = requests.post(f"{base_url}/api/v1/tools", json=values, headers={"Authorization": f"Api-Key {key}"},
                           timeout=10)  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()


def connect_typing(chat):
    """Logs in and connects in push-to-talk: the fake microphone's beeps start no turns, so what the model
    answers is the typed message and the tool's output alone."""
    bob = get_user_model().objects.get(username="bob")
    UserPreference.objects.update_or_create(user=bob, tenant=Tenant.objects.get(slug="default"),
                                            defaults={"turn_mode": "push_to_talk"})  # fmt: skip
    chat.log_in()
    call, _ = connect(chat)
    return call


def send(chat, text):
    chat.page.fill("#message", text)
    chat.page.press("#message", "Enter")


def test_a_webhook_tool_is_called_signed_and_its_answer_spoken_and_recorded(chat, tenant_webhook):
    policy(record_transcripts=True)
    tool = add_tool_by_api(chat.base_url, name="check_order", description="Looks an order up by its number.",
                           parameters=ORDER_PARAMETERS, kind="webhook", webhook_url=tenant_webhook.url,
                           timeout_seconds=15)  # fmt: skip
    secret = tool["webhook_secret"]
    assert secret.startswith("whsec_")
    page = chat.page
    call = connect_typing(chat)
    send(chat, "Please check order order=123")

    # The run shows while the webhook holds its answer, in its place after the typed message.
    running = page.wait_for_selector("#transcript li[data-role=tool][data-state=running]", timeout=15000)
    assert running.text_content() == "check_order(order=123)…"
    headers, body = until(lambda: tenant_webhook.requests and tenant_webhook.requests[0])
    request = Webhook(secret).verify(body, headers)  # raises unless the gateway signed exactly this body
    bob = get_user_model().objects.get(username="bob")
    assert request == {"tool": "check_order", "arguments": {"order": 123},
                       "call": {"id": call["id"], "tenant": "default", "user_id": bob.pk}}  # fmt: skip
    assert headers["Content-Type"] == "application/json"
    tenant_webhook.gate.set()

    page.wait_for_selector("#transcript li[data-role=tool][data-state=done]", timeout=15000)
    spoken = page.wait_for_selector(
        "#transcript li[data-role=assistant][data-pending=false]:has-text('check_order tool answered')", timeout=15000
    )
    assert '"status":"shipped"' in spoken.text_content()
    roles = page.eval_on_selector_all("#transcript li", "items => items.map((item) => item.dataset.role)")
    assert roles == ["user", "tool", "assistant"]
    assert page.text_content("#transcript li[data-role=tool]") == "check_order(order=123): done"
    page.screenshot(path=str(ARTIFACTS / "chat-tool-webhook.png"))

    run = until(lambda: ToolRun.objects.filter(call_id=call["id"]).first())
    assert (run.name, run.kind, run.status, run.error_code) == ("check_order", "webhook", ToolRunStatus.SUCCEEDED, "")
    assert json.loads(run.arguments) == {"order": 123}
    assert json.loads(run.result) == {"order": 123, "status": "shipped"}
    assert len(tenant_webhook.requests) == 1  # once, though the call names it in two events
    page.click("#hangup")
    until(lambda: Call.objects.filter(pk=call["id"], status=CallStatus.ENDED).exists())
    assert not chat.logged("PAGEERROR")

    # The call's page in admin: the run between what was said.
    get_user_model().objects.create_superuser(username="root", password=ROOT_PASSWORD)
    admin = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        staff = admin.new_page()
        staff.goto(f"{chat.base_url}/admin/login/")
        staff.fill("#id_username", "root")
        staff.fill("#id_password", ROOT_PASSWORD)
        staff.click("input[type=submit]")
        staff.goto(f"{chat.base_url}/admin/speech/call/{call['id']}/change/")
        speakers = [item.get_attribute("data-speaker") for item in staff.locator(".call-timeline li").all()]
        assert speakers[:3] == ["user", "tool", "assistant"]
        assert 'check_order({"order":123}) succeeded' in staff.text_content(".call-timeline li[data-speaker=tool]")
        staff.screenshot(path=str(ARTIFACTS / "admin-call-tools.png"), full_page=True)
    finally:
        admin.close()


def test_a_failing_webhook_is_shown_failed_and_the_model_told(chat, tenant_webhook):
    add_tool(name="check_order", parameters=ORDER_PARAMETERS, kind=ToolKind.WEBHOOK, webhook_url=tenant_webhook.url)
    tenant_webhook.status, tenant_webhook.answer = 500, {"detail": "database down"}
    tenant_webhook.gate.set()
    page = chat.page
    call = connect_typing(chat)
    send(chat, "check order order=7")
    failed = page.wait_for_selector("#transcript li[data-role=tool][data-state=failed]", timeout=15000)
    assert failed.text_content() == "check_order(order=7): failed (webhook_status)"
    page.wait_for_selector("#transcript li[data-role=assistant]:has-text('webhook_status')", timeout=15000)
    run = until(lambda: ToolRun.objects.filter(call_id=call["id"]).first())
    assert (run.status, run.error_code) == (ToolRunStatus.FAILED, "webhook_status")
    page.click("#hangup")


def test_the_current_time_built_in_answers_in_the_tenants_time_zone(chat):
    policy(time_zone="Asia/Tokyo")
    add_tool(name="current_time", description="The time now.", kind=ToolKind.BUILTIN, builtin="current_time",
             parameters={"type": "object", "properties": {}})  # fmt: skip
    page = chat.page
    call = connect_typing(chat)
    send(chat, "What is the current time?")
    page.wait_for_selector("#transcript li[data-role=tool][data-state=done]:has-text('current_time()')",
                           timeout=15000)  # fmt: skip
    spoken = page.wait_for_selector("#transcript li[data-role=assistant]:has-text('current_time tool answered')",
                                    timeout=15000)  # fmt: skip
    assert "Asia/Tokyo" in spoken.text_content() and "+09:00" in spoken.text_content()
    run = until(lambda: ToolRun.objects.filter(call_id=call["id"]).first())
    assert (run.name, run.kind, run.status) == ("current_time", "builtin", ToolRunStatus.SUCCEEDED)
    assert json.loads(run.result)["time_zone"] == "Asia/Tokyo"
    page.click("#hangup")


def test_end_call_ends_the_call_with_a_goodbye_and_the_page_says_why(chat):
    add_tool(name="end_call", description="Ends the call.", kind=ToolKind.BUILTIN, builtin="end_call",
             parameters={"type": "object", "properties": {"reason": {"type": "string"}}})  # fmt: skip
    page = chat.page
    call = connect_typing(chat)
    send(chat, "Thanks, please end call reason=done")
    page.wait_for_selector("#transcript li[data-role=tool]:has-text('end_call(reason=done)')", timeout=15000)
    page.wait_for_selector("#transcript li[data-role=assistant]:has-text('Goodbye')", timeout=15000)
    page.wait_for_selector("#call-notice[data-kind=ended]", timeout=20000)
    assert page.text_content("#call-notice") == "The assistant ended the call."
    assert page.get_attribute("#status", "data-state") == "idle"
    page.screenshot(path=str(ARTIFACTS / "chat-end-call.png"))
    ended = until(lambda: Call.objects.filter(pk=call["id"], status=CallStatus.ENDED).first())
    assert ended.end_reason == EndReason.AGENT_ENDED
    run = ToolRun.objects.get(call_id=call["id"])
    assert (run.name, run.status) == ("end_call", ToolRunStatus.SUCCEEDED)
    assert json.loads(run.arguments) == {"reason": "done"}
    assert chat.logged("[speech] the call ended: agent_ended")
