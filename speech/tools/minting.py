"""The tenant's tools in a minted session: what the provider is sent, and what the browser may see.

The provider gets function tools ({"type": "function", ...}) and MCP servers ({"type": "mcp", ...}) with
the authorization read from the secrets backend on the server. The session the provider echoes goes to
the browser only through session_redact(): no authorization or header value reaches a page.
"""

import logging

from .hosts import tool_url_problem
from .secrets import mcp_authorization_get
from .selectors import tenant_tools, thawed

logger = logging.getLogger(__name__)
# Keys of a provider's tool entry that carry credentials (OpenAI's MCP tool: authorization, headers).
SECRET_KEYS = ("authorization", "headers")


def session_tools(*, tenant_id):
    """The tenant's enabled tools as the provider's session `tools` list (fresh dicts, secrets included)."""
    enabled = tenant_tools(tenant_id=tenant_id)
    tools = [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": thawed(tool.parameters),
        }
        for tool in enabled.tools.values()
    ]
    for server in enabled.mcp_servers.values():
        # The provider calls it, so this is its run-time check: a server saved before the operator's
        # allow-list shrank is left out (and its authorization not sent).
        if problem := tool_url_problem(server.server_url):
            logger.warning("MCP server %s of tenant %s left out: %s", server.server_label, tenant_id, problem)
            continue
        entry = {
            "type": "mcp",
            "server_label": server.server_label,
            "server_url": server.server_url,
            "require_approval": server.require_approval,
        }
        if server.allowed_tools:
            entry["allowed_tools"] = list(server.allowed_tools)
        if authorization := mcp_authorization_get(reference=server.authorization_ref):
            entry["authorization"] = authorization
        tools.append(entry)
    return tuple(tools)


def session_redact(session):
    """`session` (a provider's echo) without credentials in its tools: what a browser may be shown."""
    if not isinstance(session, dict) or not isinstance(session.get("tools"), list):
        return session
    tools = [
        {key: value for key, value in tool.items() if key not in SECRET_KEYS} if isinstance(tool, dict) else tool
        for tool in session["tools"]
    ]
    return {**session, "tools": tools}
