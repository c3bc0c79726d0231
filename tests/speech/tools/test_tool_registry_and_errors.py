"""The built-in registry (SPEECH_TOOLS) and the tools' stable error codes."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from speech import errors
from speech.checks import check_tools
from speech.tools.models import McpServer, Tool
from speech.tools.registry import SHIPPED, BuiltinNotFound, BuiltinTool, builtin_get, builtins_all
from speech.tools.secrets import tool_webhook_secret_get, webhook_secret_new

DOCS = Path(__file__).resolve().parents[3] / "docs"
TOOL_CODES = {
    "tool_invalid": 400, "tool_name_invalid": 400, "tool_url_forbidden": 400, "tool_schema_invalid": 400,
    "tool_schema_too_large": 400, "tool_name_reserved": 400, "builtin_unknown": 400, "tool_not_found": 404,
    "mcp_server_not_found": 404, "tool_name_taken": 409, "tools_limit_reached": 409,
    "mcp_authorization_unavailable": 409, "tool_secret_unavailable": 503,
}  # fmt: skip


def test_the_tool_codes_are_stable_and_documented():
    codes = errors.error_codes()
    assert {code: codes[code][0] for code in TOOL_CODES} == TOOL_CODES
    documented = (DOCS / "errors.md").read_text()
    for code, status in TOOL_CODES.items():
        assert f"| {status} | `{code}` |" in documented


def test_the_shipped_builtins_are_registered_by_dotted_path_and_described():
    tools = builtins_all()
    assert set(tools) >= {"end_call", "current_time"}
    end_call = builtin_get("end_call")
    assert end_call.handler == "speech.tools.builtins.end_call"  # imported on first use, not here
    assert end_call.description == SHIPPED["end_call"]["description"]
    assert end_call.parameters["type"] == "object"
    with pytest.raises(BuiltinNotFound):
        builtin_get("rm_rf")


def test_an_operator_registers_a_callable_with_its_own_description(settings):
    settings.SPEECH_TOOLS = {
        "lookup": {"handler": "os.path.basename", "description": "Basename.",
                   "parameters": {"type": "object", "properties": {"p": {"type": "string"}}}},
        "goodbye": "speech.tools.builtins.end_call",  # a shipped handler under another name keeps its description
    }  # fmt: skip
    lookup = builtin_get("lookup")
    assert isinstance(lookup, BuiltinTool) and lookup.load()("/a/b") == "b"
    assert builtin_get("goodbye").description == SHIPPED["end_call"]["description"]
    assert "end_call" not in builtins_all()
    assert check_tools() == []


def test_system_checks_name_bad_entries(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["https://x/"]
    settings.SPEECH_TOOLS = {"bad": {"handler": "nodots", "parameters": {"type": "array"}}}
    ids = sorted(problem.id for problem in check_tools())
    assert ids == ["speech.E020", "speech.E021", "speech.E021"]


@pytest.mark.django_db
def test_model_clean_shows_the_problem_on_its_field(tenant, settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com"]
    with pytest.raises(ValidationError) as raised:
        Tool(tenant=tenant, name="x", webhook_url="https://10.0.0.1/").full_clean()
    assert "webhook_url" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        McpServer(tenant=tenant, server_label="crm", server_url="http://hooks.example.com/").full_clean()
    assert "server_url" in raised.value.message_dict


@pytest.mark.django_db
def test_a_derived_secret_is_per_tool_and_rotates(tenant, settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com"]
    first = Tool.objects.create(tenant=tenant, name="a", webhook_url="https://hooks.example.com/")
    second = Tool.objects.create(tenant=tenant, name="b", webhook_url="https://hooks.example.com/")
    a1, b1 = webhook_secret_new(tool=first), webhook_secret_new(tool=second)
    assert a1 != b1 and a1 == tool_webhook_secret_get(first)
    a2 = webhook_secret_new(tool=first)
    assert a2 != a1 and tool_webhook_secret_get(first) == a2
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789abcdef"
    assert tool_webhook_secret_get(first) != a2  # derived from SECRET_KEY: documented


@pytest.mark.django_db
def test_a_builtin_tool_follows_the_registrys_schema(tenant, settings):
    from speech.tools.selectors import thawed, tool_enabled_get
    from speech.tools.services import tool_create

    tool_create(tenant_id=tenant.pk, values={"name": "current_time", "kind": "builtin", "builtin": "current_time"})
    schema = {"type": "object", "properties": {"zone": {"type": "string"}}}
    settings.SPEECH_TOOLS = {"current_time": {"handler": "speech.tools.builtins.current_time", "parameters": schema}}
    assert thawed(tool_enabled_get(tenant_id=tenant.pk, name="current_time").parameters) == schema
