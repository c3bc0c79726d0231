"""Changing a tenant's tools and MCP servers. Every change is validated (validation.py), keeps secrets in
the secrets backend (secrets.py), reaches the next mint through the settings generation (signals.py), and
is recorded with who made it beside the settings changes (admin → Settings changes; never a secret).

`user` / `api_key`: who acts (None from the shell)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from settings_admin.models import SettingsChange

from .. import errors
from .models import McpServer, Tool, ToolKind
from .secrets import (
    mcp_authorization_forget,
    mcp_authorization_set,
    webhook_secret_forget,
    webhook_secret_new,
)
from .validation import authorization_validate, mcp_server_validate, tool_validate

TOOL_FIELDS = ("name", "description", "parameters", "enabled", "timeout_seconds", "kind", "webhook_url", "builtin",
               "mask_arguments", "mask_result")  # fmt: skip
MCP_FIELDS = ("server_label", "server_url", "allowed_tools", "require_approval", "approved_tools", "enabled")
UNSET = object()


@dataclass(frozen=True)
class ToolChange:
    tool: Tool
    webhook_secret: str | None = None  # shown once: a new webhook tool's (or a rotated) signing secret


def tools_change_record(*, tenant_id, user, api_key=None, changes):
    """Record `changes` ({what: [before, after]}) of the tenant's tools, with who made them."""
    if changes:
        SettingsChange.objects.create(
            tenant_id=tenant_id,
            user=user if user is not None and user.is_authenticated else None,
            api_key_prefix=getattr(api_key, "prefix", ""),
            changes=changes,
        )


def _values(instance, fields):
    return {field: getattr(instance, field) for field in fields}


def _save(instance, *, fields):
    try:
        with transaction.atomic():
            instance.save(update_fields=fields)
    except IntegrityError:  # two requests saving the same name at once: the constraint decides
        raise errors.ToolNameTaken() from None


def tool_get(*, tenant_id, tool_id):
    """The tenant's tool `tool_id`. Raises ToolNotFound (another tenant's id too)."""
    tool = Tool.objects.filter(tenant_id=tenant_id, pk=tool_id).first()
    if tool is None:
        raise errors.ToolNotFound()
    return tool


def tool_create(*, tenant_id, values, user=None, api_key=None):
    """A new tool of the tenant from `values` (TOOL_FIELDS); a webhook tool gets its signing secret."""
    tool = Tool(tenant_id=tenant_id, **{key: values[key] for key in TOOL_FIELDS if key in values})
    tool_validate(tool=tool)
    with transaction.atomic():
        _save(tool, fields=None)
        secret = None
        if tool.kind == ToolKind.WEBHOOK:
            secret = webhook_secret_new(tool=tool)
            tool.save(update_fields=["webhook_secret_ref", "webhook_secret_version"])
        tools_change_record(
            tenant_id=tenant_id,
            user=user,
            api_key=api_key,
            changes={f"tools.{tool.name}": [None, _values(tool, TOOL_FIELDS)]},
        )
    return ToolChange(tool=tool, webhook_secret=secret)


def tool_update(*, tool, changes, user=None, api_key=None):
    """Apply `changes` (TOOL_FIELDS) to `tool`. A tool that becomes a webhook without a secret gets one."""
    name, before = tool.name, _values(tool, TOOL_FIELDS)
    for key in TOOL_FIELDS:
        if key in changes:
            setattr(tool, key, changes[key])
    tool_validate(tool=tool)
    with transaction.atomic():
        _save(tool, fields=[*TOOL_FIELDS, "updated_at"])
        secret = None
        if tool.kind == ToolKind.WEBHOOK and not tool.webhook_secret_ref and tool.webhook_secret_version == 0:
            secret = webhook_secret_new(tool=tool)
            tool.save(update_fields=["webhook_secret_ref", "webhook_secret_version"])
        after = _values(tool, TOOL_FIELDS)
        changed = {f"tools.{name}.{key}": [before[key], after[key]] for key in TOOL_FIELDS if before[key] != after[key]}
        tools_change_record(tenant_id=tool.tenant_id, user=user, api_key=api_key, changes=changed)
    return ToolChange(tool=tool, webhook_secret=secret)


def tool_webhook_secret_rotate(*, tool, user=None, api_key=None):
    """A new signing secret for a webhook tool (the old one stops verifying at once)."""
    if tool.kind != ToolKind.WEBHOOK:
        raise errors.ToolError("Only a webhook tool has a signing secret.")
    with transaction.atomic():
        secret = webhook_secret_new(tool=tool)
        tool.save(update_fields=["webhook_secret_ref", "webhook_secret_version", "updated_at"])
        tools_change_record(
            tenant_id=tool.tenant_id,
            user=user,
            api_key=api_key,
            changes={f"tools.{tool.name}.webhook_secret": "rotated"},
        )
    return ToolChange(tool=tool, webhook_secret=secret)


def tool_delete(*, tool, user=None, api_key=None):
    with transaction.atomic():
        tools_change_record(
            tenant_id=tool.tenant_id,
            user=user,
            api_key=api_key,
            changes={f"tools.{tool.name}": [_values(tool, TOOL_FIELDS), None]},
        )
        webhook_secret_forget(tool=tool)
        tool.delete()


def mcp_server_get(*, tenant_id, server_id):
    server = McpServer.objects.filter(tenant_id=tenant_id, pk=server_id).first()
    if server is None:
        raise errors.McpServerNotFound()
    return server


def mcp_server_create(*, tenant_id, values, authorization="", user=None, api_key=None):
    """A new MCP server of the tenant; its `authorization` (if any) goes to the secrets backend only."""
    server = McpServer(tenant_id=tenant_id, **{key: values[key] for key in MCP_FIELDS if key in values})
    mcp_server_validate(server=server)
    authorization_validate(authorization)
    with transaction.atomic():
        _save(server, fields=None)
        if authorization:
            mcp_authorization_set(server=server, value=authorization)
            server.save(update_fields=["authorization_ref"])
        created = {**_values(server, MCP_FIELDS), "authorization": "stored" if authorization else None}
        tools_change_record(
            tenant_id=tenant_id,
            user=user,
            api_key=api_key,
            changes={f"mcp_servers.{server.server_label}": [None, created]},
        )
    return server


def mcp_server_update(*, server, changes, authorization=UNSET, user=None, api_key=None):
    """Apply `changes` (MCP_FIELDS); `authorization` replaces the kept one ("" removes it), UNSET keeps it."""
    label, before = server.server_label, _values(server, MCP_FIELDS)
    for key in MCP_FIELDS:
        if key in changes:
            setattr(server, key, changes[key])
    mcp_server_validate(server=server)
    if authorization is not UNSET:
        authorization_validate(authorization)
    with transaction.atomic():
        _save(server, fields=[*MCP_FIELDS, "updated_at"])
        if authorization is not UNSET:
            mcp_authorization_set(server=server, value=authorization)
            server.save(update_fields=["authorization_ref"])
        after = _values(server, MCP_FIELDS)
        changed = {f"mcp_servers.{label}.{key}": [before[key], after[key]] for key in MCP_FIELDS
                   if before[key] != after[key]}  # fmt: skip
        if authorization is not UNSET:
            changed[f"mcp_servers.{label}.authorization"] = "stored" if authorization else "removed"
        tools_change_record(tenant_id=server.tenant_id, user=user, api_key=api_key, changes=changed)
    return server


def mcp_server_delete(*, server, user=None, api_key=None):
    with transaction.atomic():
        tools_change_record(
            tenant_id=server.tenant_id,
            user=user,
            api_key=api_key,
            changes={f"mcp_servers.{server.server_label}": [_values(server, MCP_FIELDS), None]},
        )
        mcp_authorization_forget(server=server)
        server.delete()
