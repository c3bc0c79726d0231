"""Tools and MCP servers in Django admin: a webhook's secret shown once, an MCP authorization never shown."""

import pytest

from speech.tools.models import McpServer, Tool
from speech.tools.secrets import tool_webhook_secret_get

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_list(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com", "mcp.example.com"]


def tool_form(tenant, **overrides):
    return {"tenant": tenant.pk, "name": "check_order", "kind": "webhook", "builtin": "",
            "webhook_url": "https://hooks.example.com/o", "description": "", "enabled": "on",
            "parameters": '{"type": "object", "properties": {}}', "timeout_seconds": "5", **overrides}  # fmt: skip


def test_adding_a_webhook_tool_shows_its_secret_once(admin_client, tenant):
    response = admin_client.post("/admin/speech/tool/add/", tool_form(tenant), follow=True)
    assert response.status_code == 200
    tool = Tool.objects.get()
    secret = tool_webhook_secret_get(tool)
    assert secret in response.content.decode()
    page = admin_client.get(f"/admin/speech/tool/{tool.pk}/change/").content.decode()
    assert secret not in page and secret not in admin_client.get("/admin/speech/tool/").content.decode()
    admin_client.post(f"/admin/speech/tool/{tool.pk}/change/", tool_form(tenant, description="Find it."), follow=True)
    assert tool_webhook_secret_get(Tool.objects.get()) == secret  # a change keeps it


def test_admin_forms_refuse_what_the_api_refuses(admin_client, tenant):
    page = admin_client.post("/admin/speech/tool/add/", tool_form(tenant, webhook_url="https://169.254.169.254/"))
    assert page.status_code == 200 and "private, loopback" in page.content.decode()
    page = admin_client.post("/admin/speech/tool/add/", tool_form(tenant, parameters='{"type": "string"}'))
    assert "schema must have &quot;type&quot;: &quot;object&quot;" in page.content.decode()
    assert not Tool.objects.exists()


def test_the_rotate_action_shows_the_new_secret(admin_client, tenant):
    admin_client.post("/admin/speech/tool/add/", tool_form(tenant))
    tool = Tool.objects.get()
    first = tool_webhook_secret_get(tool)
    response = admin_client.post(
        "/admin/speech/tool/", {"action": "rotate_webhook_secret", "_selected_action": [tool.pk]}, follow=True
    )
    second = tool_webhook_secret_get(Tool.objects.get())
    assert second != first and second in response.content.decode()


def mcp_form(tenant, **overrides):
    return {"tenant": tenant.pk, "server_label": "crm", "server_url": "https://mcp.example.com/sse",
            "allowed_tools": "[]", "require_approval": "never", "approved_tools": "[]", "enabled": "on",
            **overrides}  # fmt: skip


def test_an_mcp_authorization_needs_vault_in_admin_too(admin_client, tenant):
    page = admin_client.post("/admin/speech/mcpserver/add/", mcp_form(tenant, authorization="Bearer x"))
    assert page.status_code == 200 and "read-only" in page.content.decode()
    assert not McpServer.objects.exists()


def test_an_mcp_authorization_typed_in_admin_goes_to_vault_and_never_back(admin_client, tenant, vault):
    secret = "Bearer admin-typed-mcp-secret-42"
    response = admin_client.post("/admin/speech/mcpserver/add/", mcp_form(tenant, authorization=secret), follow=True)
    assert response.status_code == 200 and secret not in response.content.decode()
    server = McpServer.objects.get()
    assert server.authorization_ref and secret not in admin_client.get(
        f"/admin/speech/mcpserver/{server.pk}/change/"
    ).content.decode()


def test_an_mcp_tool_list_that_is_not_a_list_of_names_is_a_field_error(admin_client, tenant):
    page = admin_client.post("/admin/speech/mcpserver/add/", mcp_form(tenant, allowed_tools='{"a": 1}'))
    assert page.status_code == 200 and "allowed_tools must be a list" in page.content.decode()
    assert not McpServer.objects.exists()


def test_admin_changes_are_recorded(admin_client, tenant):
    from settings_admin.models import SettingsChange

    admin_client.post("/admin/speech/tool/add/", tool_form(tenant))
    tool = Tool.objects.get()
    admin_client.post(f"/admin/speech/tool/{tool.pk}/change/", tool_form(tenant, description="Find it."))
    changes = [record.changes for record in SettingsChange.objects.order_by("created_at", "pk")]
    assert list(changes[0]) == ["tools.check_order"]
    assert changes[1] == {"tools.check_order.description": ["", "Find it."]}
