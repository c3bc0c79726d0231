"""Reading a tenant's tools: one cached read per tenant and settings generation.

Every save or delete of a Tool or McpServer bumps the settings generation once it commits
(speech/tools/signals.py), so minting and the supervisor see a change on their next read in every
process, and a warm mint pays no query for tools.
"""

from dataclasses import dataclass, fields
from types import MappingProxyType

from settings_admin.selectors import frozen, settings_cached

from .models import McpServer, Tool, ToolKind
from .registry import builtins_all


def thawed(value):
    """A plain JSON value (dicts, lists) from a frozen() one: what goes out to a provider or a validator."""
    if isinstance(value, MappingProxyType | dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thawed(item) for item in value]
    return value


@dataclass(frozen=True)
class ToolView:
    id: int
    tenant_id: int
    name: str
    description: str
    parameters: MappingProxyType
    enabled: bool
    timeout_seconds: float
    kind: str
    webhook_url: str
    builtin: str
    mask_arguments: bool
    mask_result: bool
    webhook_secret_ref: str
    webhook_secret_version: int

    @classmethod
    def of(cls, tool):
        values = {f.name: getattr(tool, f.name) for f in fields(cls)}
        parameters = tool.parameters
        if tool.kind == ToolKind.BUILTIN and (builtin := builtins_all().get(tool.builtin)):
            parameters = builtin.parameters  # what its handler expects now, should the operator change it
        return cls(**{**values, "parameters": frozen(parameters)})


@dataclass(frozen=True)
class McpServerView:
    id: int
    tenant_id: int
    server_label: str
    server_url: str
    allowed_tools: tuple
    require_approval: str
    approved_tools: tuple
    enabled: bool
    authorization_ref: str

    @classmethod
    def of(cls, server):
        values = {f.name: getattr(server, f.name) for f in fields(cls)}
        return cls(
            **{**values, "allowed_tools": tuple(server.allowed_tools), "approved_tools": tuple(server.approved_tools)}
        )


@dataclass(frozen=True)
class TenantTools:
    """A tenant's enabled tools and MCP servers, by name."""

    tools: MappingProxyType  # name -> ToolView
    mcp_servers: MappingProxyType  # server_label -> McpServerView

    def __bool__(self):
        return bool(self.tools or self.mcp_servers)


def tenant_tools(*, tenant_id):
    """The tenant's enabled tools and MCP servers (TenantTools), cached under the settings generation."""

    def compute():
        tools = Tool.objects.filter(tenant_id=tenant_id, enabled=True).order_by("name")
        servers = McpServer.objects.filter(tenant_id=tenant_id, enabled=True).order_by("server_label")
        return TenantTools(
            tools=MappingProxyType({tool.name: ToolView.of(tool) for tool in tools}),
            mcp_servers=MappingProxyType({server.server_label: McpServerView.of(server) for server in servers}),
        )

    return settings_cached(f"tools:{tenant_id}", compute)


def tool_enabled_get(*, tenant_id, name):
    """The tenant's tool `name` if it is enabled now (ToolView), else None: for the supervisor's runs."""
    return tenant_tools(tenant_id=tenant_id).tools.get(name)


def mcp_server_enabled_get(*, tenant_id, server_label):
    return tenant_tools(tenant_id=tenant_id).mcp_servers.get(server_label)


def tools_of_tenant(*, tenant_id):
    """Every tool of the tenant, enabled or not (for its admins), by name."""
    return Tool.objects.filter(tenant_id=tenant_id).order_by("name")


def mcp_servers_of_tenant(*, tenant_id):
    return McpServer.objects.filter(tenant_id=tenant_id).order_by("server_label")
