"""/api/v1/tools and /api/v1/mcp_servers: a tenant's admins define its tools; a hostile tenant gets codes."""

import json

import pytest
from django.test import Client
from standardwebhooks import Webhook

from settings_admin.models import KeyScope, Membership, Role, Tenant, TenantAPIKey
from speech.tools.models import McpServer, Tool
from speech.tools.secrets import tool_webhook_secret_get
from speech.tools.validation import MAX_TOOLS_PER_TENANT

pytestmark = pytest.mark.django_db
HOOK = "https://hooks.example.com/orders"
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "description": "The order's number."}},
    "required": ["order_id"],
}


def call(client, method, path, body=None, **headers):
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(path, data=data, content_type="application/json", **headers)


def code(response):
    return response.json()["error"]["code"]


@pytest.fixture(autouse=True)
def allow_list(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com", "mcp.example.com"]


@pytest.fixture
def admin_client(speech_settings, django_user_model):
    admin = django_user_model.objects.create_user("dana")
    Membership.objects.create(user=admin, tenant=speech_settings.tenant, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def other_tenant_tool(db):
    other = Tenant.objects.create(slug="other", name="Other")
    return Tool.objects.create(tenant=other, name="check_order", webhook_url=HOOK, parameters=ORDER_SCHEMA)


def create(client, **overrides):
    body = {"name": "check_order", "description": "Look up an order.", "parameters": ORDER_SCHEMA,
            "webhook_url": HOOK, **overrides}  # fmt: skip
    return call(client, "post", "/api/v1/tools", body)


def test_an_admin_creates_a_webhook_tool_and_sees_its_signing_secret_once(admin_client, tenant):
    response = create(admin_client, timeout_seconds=2.5, mask_arguments=True)
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["webhook_secret"]
    assert secret.startswith("whsec_")
    assert (body["name"], body["kind"], body["timeout_seconds"], body["mask_arguments"]) == (
        "check_order", "webhook", 2.5, True,
    )  # fmt: skip
    tool = Tool.objects.get(pk=body["id"])
    assert tool.tenant == tenant and secret not in json.dumps([tool.webhook_secret_ref, tool.parameters])
    # the runner reads the same secret, and it signs as Standard Webhooks verifies
    assert tool_webhook_secret_get(tool) == secret
    signer = Webhook(secret)
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC)
    signature = signer.sign("msg_1", now, '{"a":1}')
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    # never again: not in the list, the detail or a change
    for response in (
        admin_client.get("/api/v1/tools"),
        admin_client.get(f"/api/v1/tools/{tool.pk}"),
        call(admin_client, "patch", f"/api/v1/tools/{tool.pk}", {"description": "Find an order."}),
    ):
        assert response.status_code == 200 and secret not in response.content.decode()
    assert call(admin_client, "patch", f"/api/v1/tools/{tool.pk}", {"enabled": False}).json()["webhook_secret"] is None


def test_rotating_gives_a_new_secret_and_the_old_one_stops(admin_client):
    tool_id, first = (lambda body: (body["id"], body["webhook_secret"]))(create(admin_client).json())
    response = admin_client.post(f"/api/v1/tools/{tool_id}/webhook_secret")
    assert response.status_code == 200
    second = response.json()["webhook_secret"]
    assert second.startswith("whsec_") and second != first
    assert tool_webhook_secret_get(Tool.objects.get(pk=tool_id)) == second


def test_a_builtin_tool_takes_its_name_and_schema_from_the_registry(admin_client):
    response = call(admin_client, "post", "/api/v1/tools", {"name": "current_time", "kind": "builtin",
                                                             "builtin": "current_time"})  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["webhook_secret"] is None and body["webhook_url"] == ""
    assert body["parameters"]["type"] == "object" and "time zone" in body["description"]


def test_crud_round_trip_and_delete(admin_client):
    tool_id = create(admin_client).json()["id"]
    assert [tool["name"] for tool in admin_client.get("/api/v1/tools").json()] == ["check_order"]
    changed = call(admin_client, "patch", f"/api/v1/tools/{tool_id}", {"name": "find_order", "timeout_seconds": 30})
    assert changed.status_code == 200 and changed.json()["name"] == "find_order"
    assert admin_client.delete(f"/api/v1/tools/{tool_id}").status_code == 204
    assert code(admin_client.get(f"/api/v1/tools/{tool_id}")) == "tool_not_found"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://127.0.0.1/hook", "tool_url_forbidden"),
        ("https://169.254.169.254/latest/meta-data/", "tool_url_forbidden"),
        ("https://10.0.0.8/", "tool_url_forbidden"),
        ("https://[::1]/", "tool_url_forbidden"),
        ("https://hooks.example.com@127.0.0.1/", "tool_url_forbidden"),
        ("http://hooks.example.com/orders", "tool_url_forbidden"),
        ("https://localhost/", "tool_url_forbidden"),
        ("https://attacker.example/", "tool_url_forbidden"),
        ("", "tool_url_forbidden"),
    ],
)
def test_a_webhook_url_outside_the_operators_rules_is_refused(admin_client, url, expected):
    response = create(admin_client, webhook_url=url)
    assert response.status_code == 400 and code(response) == expected
    assert not Tool.objects.exists()


def test_a_change_to_a_forbidden_url_is_refused_too(admin_client):
    tool_id = create(admin_client).json()["id"]
    response = call(admin_client, "patch", f"/api/v1/tools/{tool_id}", {"webhook_url": "https://169.254.169.254/"})
    assert code(response) == "tool_url_forbidden"
    assert Tool.objects.get().webhook_url == HOOK


@pytest.mark.parametrize(
    ("parameters", "expected", "status"),
    [
        ({"type": "object", "properties": {"n": {"type": "nonsense"}}}, "tool_schema_invalid", 400),
        ({"type": "object", "properties": {"n": {"minLength": "three"}}}, "tool_schema_invalid", 400),
        ({"type": "array"}, "tool_schema_invalid", 400),
        ([1, 2], "tool_schema_invalid", 400),
        ("an object", "tool_schema_invalid", 400),
        ({"type": "object", "properties": {"n": {"$ref": "https://attacker.example/schema.json"}}},
         "tool_schema_invalid", 400),
        ({"type": "object", "properties": {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(90)}},
         "tool_schema_too_large", 400),
    ],
)  # fmt: skip
def test_a_schema_that_is_not_a_small_valid_json_schema_is_refused(admin_client, parameters, expected, status):
    response = create(admin_client, parameters=parameters)
    assert response.status_code == status and code(response) == expected, response.content


def test_a_deeply_nested_schema_is_refused_without_exhausting_the_stack(admin_client):
    nested = {"type": "object"}
    for _ in range(200):
        nested = {"type": "object", "properties": {"a": nested}}
    response = create(admin_client, parameters=nested)
    assert code(response) == "tool_schema_too_large"


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a|a)+$"}}}, '"pattern"'),
        ({"type": "object", "patternProperties": {"^x": {"type": "string"}}}, '"patternProperties"'),
        ({"type": "object", "properties": {"s": {"type": "string", "format": "regex"}}}, '"format": "regex"'),
        # Hidden where only a $ref reaches it, or in a list of schemas.
        ({"type": "object", "$defs": {"r": {"pattern": "(a+)+$"}}, "properties": {"s": {"$ref": "#/$defs/r"}}},
         '"pattern"'),
        ({"type": "object", "properties": {"s": {"anyOf": [{"type": "string", "pattern": "a*a*$"}]}}}, '"pattern"'),
        ({"type": "object", "properties": {"l": {"type": "array", "uniqueItems": True}}}, '"maxItems"'),
        ({"type": "object", "properties": {"l": {"type": "array", "uniqueItems": True, "maxItems": 101}}},
         '"maxItems"'),
    ],
)  # fmt: skip
def test_a_schema_asking_for_unbounded_work_on_the_arguments_is_refused(admin_client, parameters, says):
    response = create(admin_client, parameters=parameters)
    assert response.status_code == 400 and code(response) == "tool_schema_invalid", response.content
    assert says in response.json()["error"]["message"]
    assert not Tool.objects.exists()


def test_a_property_named_pattern_and_a_short_unique_list_are_fine(admin_client):
    schema = {"type": "object", "properties": {
        "pattern": {"type": "string"}, "format": {"type": "string"},
        "tags": {"type": "array", "uniqueItems": True, "maxItems": 100},
        "seen": {"type": "array", "uniqueItems": False}}}  # fmt: skip
    assert create(admin_client, parameters=schema).status_code == 201


def test_a_local_ref_is_fine(admin_client):
    schema = {"type": "object", "$defs": {"id": {"type": "string"}}, "properties": {"order": {"$ref": "#/$defs/id"}}}
    assert create(admin_client, parameters=schema).status_code == 201


@pytest.mark.parametrize(
    ("body", "expected", "status"),
    [
        ({"name": "end_call"}, "tool_name_reserved", 400),  # a webhook posing as a built-in
        ({"name": "hang_up", "kind": "builtin", "builtin": "end_call"}, "tool_name_reserved", 400),
        ({"name": "shell", "kind": "builtin", "builtin": "shell"}, "builtin_unknown", 400),
        ({"name": "bad name!"}, "tool_name_invalid", 400),
        ({"name": ""}, "invalid_request", 400),
        ({"name": "x" * 65}, "invalid_request", 400),
        ({"timeout_seconds": 0.1}, "invalid_request", 400),
        ({"timeout_seconds": 31}, "invalid_request", 400),
        ({"tenant": 2}, "invalid_request", 400),
    ],
)
def test_names_kinds_and_bounds(admin_client, body, expected, status):
    response = create(admin_client, **body)
    assert response.status_code == status and code(response) == expected, response.content


def test_a_name_is_unique_in_a_tenant_only(admin_client, other_tenant_tool):
    assert create(admin_client).status_code == 201
    response = create(admin_client)
    assert response.status_code == 409 and code(response) == "tool_name_taken"


def test_a_tenant_has_a_bounded_number_of_tools(admin_client, tenant):
    Tool.objects.bulk_create(
        Tool(tenant=tenant, name=f"t{i}", webhook_url=HOOK) for i in range(MAX_TOOLS_PER_TENANT)
    )
    response = create(admin_client)
    assert response.status_code == 409 and code(response) == "tools_limit_reached"


def test_another_tenants_tool_is_not_found(admin_client, other_tenant_tool):
    pk = other_tenant_tool.pk
    for response in (
        admin_client.get(f"/api/v1/tools/{pk}"),
        call(admin_client, "patch", f"/api/v1/tools/{pk}", {"description": "mine now"}),
        admin_client.delete(f"/api/v1/tools/{pk}"),
        admin_client.post(f"/api/v1/tools/{pk}/webhook_secret"),
    ):
        assert response.status_code == 404 and code(response) == "tool_not_found"
    assert admin_client.get("/api/v1/tools").json() == []
    other_tenant_tool.refresh_from_db()
    assert other_tenant_tool.description == ""


def test_members_and_read_scoped_keys_may_not_manage_tools(logged_in_client, speech_settings):
    response = logged_in_client.get("/api/v1/tools")
    assert response.status_code == 403 and code(response) == "not_a_member"
    key = TenantAPIKey.objects.create_key(name="app", tenant=speech_settings.tenant, scope=KeyScope.SESSIONS)[1]
    response = Client().get("/api/v1/tools", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 403 and code(response) == "api_key_scope"
    assert Client().get("/api/v1/tools").status_code in (401, 403)


def test_an_admin_scoped_key_manages_tools(speech_settings):
    key = TenantAPIKey.objects.create_key(name="ops", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert create(client).status_code == 201
    assert len(client.get("/api/v1/tools").json()) == 1


# --- MCP servers ---------------------------------------------------------------------------------------------


def test_an_mcp_authorization_needs_a_writable_secrets_backend(admin_client):
    body = {"server_label": "crm", "server_url": "https://mcp.example.com/sse", "authorization": "Bearer s3cret"}
    response = call(admin_client, "post", "/api/v1/mcp_servers", body)
    assert response.status_code == 409 and code(response) == "mcp_authorization_unavailable"
    assert not McpServer.objects.exists()


def test_mcp_servers_without_authorization(admin_client, other_tenant_tool):
    body = {"server_label": "docs", "server_url": "https://mcp.example.com/mcp", "allowed_tools": ["search"],
            "require_approval": "always", "approved_tools": ["search"]}  # fmt: skip
    response = call(admin_client, "post", "/api/v1/mcp_servers", body)
    assert response.status_code == 201, response.content
    server = response.json()
    assert server["authorization_set"] is False and server["approved_tools"] == ["search"]
    assert code(call(admin_client, "post", "/api/v1/mcp_servers", body)) == "tool_name_taken"
    other = McpServer.objects.create(tenant=other_tenant_tool.tenant, server_label="x", server_url=body["server_url"])
    assert code(admin_client.get(f"/api/v1/mcp_servers/{other.pk}")) == "mcp_server_not_found"
    assert code(admin_client.delete(f"/api/v1/mcp_servers/{other.pk}")) == "mcp_server_not_found"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"server_url": "https://169.254.169.254/"}, "tool_url_forbidden"),
        ({"server_url": "http://mcp.example.com/"}, "tool_url_forbidden"),
        ({"server_url": "https://attacker.example/"}, "tool_url_forbidden"),
        ({"allowed_tools": ["ok", "not ok"]}, "tool_invalid"),
        ({"require_approval": "sometimes"}, "invalid_request"),
    ],
)
def test_mcp_server_definitions_are_checked(admin_client, body, expected):
    full = {"server_label": "docs", "server_url": "https://mcp.example.com/mcp", **body}
    response = call(admin_client, "post", "/api/v1/mcp_servers", full)
    assert response.status_code in (400, 409) and code(response) == expected, response.content


def test_mcp_authorization_lives_in_vault_and_is_never_read_back(admin_client, vault):
    secret = "Bearer mcp-secret-7c1e4b"
    body = {"server_label": "crm", "server_url": "https://mcp.example.com/sse", "authorization": secret}
    response = call(admin_client, "post", "/api/v1/mcp_servers", body)
    assert response.status_code == 201, response.content
    assert response.json()["authorization_set"] is True and secret not in response.content.decode()
    server = McpServer.objects.get()
    assert secret not in json.dumps([server.authorization_ref, server.server_url, server.allowed_tools])
    stored = vault.client().secrets.kv.v2.read_secret_version(
        path=server.authorization_ref, raise_on_deleted_version=True
    )
    assert secret in json.dumps(stored["data"]["data"])
    assert secret not in admin_client.get(f"/api/v1/mcp_servers/{server.pk}").content.decode()
    # "" removes it, from Vault too
    response = call(admin_client, "patch", f"/api/v1/mcp_servers/{server.pk}", {"authorization": ""})
    assert response.json()["authorization_set"] is False


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(admin_client, raw):
    body = f'{{"name": "t", "webhook_url": "{HOOK}", "timeout_seconds": {raw}}}'
    response = admin_client.post("/api/v1/tools", data=body, content_type="application/json")
    assert response.status_code == 400 and code(response) in ("invalid_request", "parse_error")
    assert not Tool.objects.exists()


def test_a_nul_byte_is_refused_not_a_500(admin_client):
    response = create(admin_client, description="a\u0000b")
    assert response.status_code == 400 and code(response) == "invalid_request"
    schema = {"type": "object", "properties": {"a\u0000": {"type": "string"}}}
    response = create(admin_client, parameters=schema)
    assert response.status_code == 400 and code(response) == "tool_schema_invalid"


def test_every_change_is_recorded_with_who_made_it_and_no_secret(admin_client, vault):
    from settings_admin.models import SettingsChange

    tool_id = create(admin_client).json()["id"]
    call(admin_client, "patch", f"/api/v1/tools/{tool_id}", {"webhook_url": "https://hooks.example.com/v2"})
    secret = admin_client.post(f"/api/v1/tools/{tool_id}/webhook_secret").json()["webhook_secret"]
    admin_client.delete(f"/api/v1/tools/{tool_id}")
    body = {"server_label": "crm", "server_url": "https://mcp.example.com/sse", "authorization": "Bearer rec-0815"}
    server_id = call(admin_client, "post", "/api/v1/mcp_servers", body).json()["id"]
    admin_client.delete(f"/api/v1/mcp_servers/{server_id}")
    records = list(SettingsChange.objects.order_by("created_at", "pk"))
    assert {record.user.username for record in records} == {"dana"}
    keys = [next(iter(record.changes)) for record in records]
    assert keys == ["tools.check_order", "tools.check_order.webhook_url", "tools.check_order.webhook_secret",
                    "tools.check_order", "mcp_servers.crm", "mcp_servers.crm"]  # fmt: skip
    assert records[1].changes["tools.check_order.webhook_url"] == [HOOK, "https://hooks.example.com/v2"]
    everything = json.dumps([record.changes for record in records])
    assert secret not in everything and "rec-0815" not in everything


def test_a_tenant_named_after_another_tenants_id_cannot_reach_its_tool_secrets(admin_client, vault, tenant):
    """Tenant admins name their provider key's path inside speech/tenants/<slug>/; tool secrets live elsewhere."""
    from settings_admin.models import SpeechSettings

    tool = Tool.objects.get(pk=create(admin_client).json()["id"])
    body = {"server_label": "crm", "server_url": "https://mcp.example.com/sse", "authorization": "Bearer x-42"}
    server = McpServer.objects.get(pk=call(admin_client, "post", "/api/v1/mcp_servers", body).json()["id"])
    impostor = Tenant.objects.create(slug=str(tenant.pk), name="Impostor")
    names = (f"tools/{tool.pk}/webhook-secret", f"mcp/{server.pk}/authorization")
    references = {
        SpeechSettings(tenant=impostor, credential_ref=name).credential_reference for name in names
    }  # what the impostor's admin could name as its provider key
    assert tool.webhook_secret_ref and server.authorization_ref
    assert not references & {tool.webhook_secret_ref, server.authorization_ref}
