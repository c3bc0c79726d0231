"""The rules a tool or MCP server definition must meet: one place for the API, admin and services.

Each check raises a ToolError (speech/errors.py) with a stable code; admin forms show its message on
its field (Tool.clean / McpServer.clean).
"""

import json
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .. import errors
from .hosts import tool_url_problem
from .models import TOOL_NAME, McpServer, Tool, ToolKind
from .registry import builtins_all

MAX_SCHEMA_BYTES = 8 * 1024  # serialized: every session of the tenant carries it (a request body is 16 KiB)
MAX_SCHEMA_DEPTH = 32
MAX_TOOLS_PER_TENANT = 64
MAX_MCP_SERVERS_PER_TENANT = 16
MAX_MCP_TOOL_NAMES = 128
MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
MAX_AUTHORIZATION_CHARS = 4096
MAX_UNIQUE_ITEMS = 100  # uniqueItems compares every pair of items: an array it checks must be this short
# Keywords whose object maps names (not keywords) to schemas: a property may be named "pattern".
NAMED_SCHEMAS = ("properties", "$defs", "definitions", "dependentSchemas", "patternProperties")
# A header value: printable ASCII, no CR/LF that could start another header.
AUTHORIZATION = re.compile(r"^[\x20-\x7e]+$")


def _depth(value):
    """How deeply `value` nests (iterative: a hostile schema cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_SCHEMA_DEPTH:
            return depth
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _remote_refs(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in ("$ref", "$dynamicRef") and not (isinstance(child, str) and child.startswith("#")):
                    return True
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _holds_nul(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def schema_costly_problem(value, *, unique_items=True):
    """A problem when the schema asks for work a hostile argument can make unbounded, else None. The model's
    arguments (which the caller can steer) are validated against it: a regular expression ("pattern",
    "patternProperties", "format": "regex") can backtrack for minutes, and uniqueItems is quadratic (unless
    `unique_items` is false: the supervisor bounds it itself)."""
    stack = [(value, False)]
    while stack:
        item, names = stack.pop()
        if isinstance(item, list):
            stack.extend((child, False) for child in item)
            continue
        if not isinstance(item, dict):
            continue
        if names:
            stack.extend((child, False) for child in item.values())
            continue
        for key in ("pattern", "patternProperties"):
            if key in item:
                return f'"{key}" is not allowed: a regular expression can take minutes on a hostile argument.'
        if item.get("format") == "regex":
            return '"format": "regex" is not allowed: a regular expression can take minutes on a hostile argument.'
        if unique_items and item.get("uniqueItems") is True:
            limit = item.get("maxItems")
            if type(limit) is not int or limit > MAX_UNIQUE_ITEMS:
                return f'"uniqueItems" needs "maxItems" of at most {MAX_UNIQUE_ITEMS} beside it.'
        stack.extend((child, key in NAMED_SCHEMAS) for key, child in item.items())
    return None


def parameters_validate(parameters):
    """Raise unless `parameters` is a JSON Schema (draft 2020-12) of "type": "object", small and local."""
    if not isinstance(parameters, dict):
        raise errors.ToolSchemaInvalid("The parameters must be a JSON object (a JSON Schema).")
    if _depth(parameters) > MAX_SCHEMA_DEPTH:
        raise errors.ToolSchemaTooLarge(f"The parameters schema nests deeper than {MAX_SCHEMA_DEPTH} levels.")
    serialized = json.dumps(parameters, separators=(",", ":"))
    if len(serialized) > MAX_SCHEMA_BYTES:
        raise errors.ToolSchemaTooLarge(f"The parameters schema is larger than {MAX_SCHEMA_BYTES} bytes.")
    if _holds_nul(parameters):  # PostgreSQL's jsonb cannot hold it
        raise errors.ToolSchemaInvalid("The parameters schema must not hold NUL characters.")
    if parameters.get("type") != "object":
        raise errors.ToolSchemaInvalid('The parameters schema must have "type": "object".')
    if _remote_refs(parameters):
        raise errors.ToolSchemaInvalid('A "$ref" may point only inside the schema ("#/...").')
    if problem := schema_costly_problem(parameters):
        raise errors.ToolSchemaInvalid(problem)
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(top)"
        raise errors.ToolSchemaInvalid(f"Not a valid JSON Schema at {where}: {exc.message[:200]}") from None


def url_validate(url):
    if problem := tool_url_problem(url):
        raise errors.ToolUrlForbidden(problem)


def tool_validate(*, tool):
    """Check `tool` (saved or not) and fill what its kind decides: a built-in's name and parameters come
    from the registry (the model is told what the handler expects). Raises a ToolError."""
    if not re.match(TOOL_NAME, tool.name or ""):
        raise errors.ToolNameInvalid()
    builtins = builtins_all()
    if tool.kind == ToolKind.BUILTIN:
        builtin = builtins.get(tool.builtin)
        if builtin is None:
            raise errors.BuiltinUnknown(f"No built-in tool {tool.builtin!r} is registered (SPEECH_TOOLS).")
        if tool.name != builtin.name:
            raise errors.ToolNameReserved(f"A built-in tool is named after it: {builtin.name!r}.")
        tool.parameters = builtin.parameters
        tool.description = tool.description or builtin.description
        tool.webhook_url = ""
    elif tool.kind == ToolKind.WEBHOOK:
        if tool.name in builtins:
            raise errors.ToolNameReserved(f"{tool.name!r} is the name of a built-in tool.")
        tool.builtin = ""
        url_validate(tool.webhook_url)
    else:
        raise errors.ToolError(f"Unknown kind {tool.kind!r}: webhook or builtin.")
    parameters_validate(tool.parameters)
    others = Tool.objects.filter(tenant_id=tool.tenant_id).exclude(pk=tool.pk)
    if others.filter(name=tool.name).exists():
        raise errors.ToolNameTaken(f"The tenant already has a tool named {tool.name!r}.")
    if tool.pk is None and others.count() >= MAX_TOOLS_PER_TENANT:
        raise errors.ToolsLimitReached(f"A tenant may have at most {MAX_TOOLS_PER_TENANT} tools.")


def _names_validate(names, field):
    if not isinstance(names, list) or len(names) > MAX_MCP_TOOL_NAMES:
        raise errors.ToolError(f"{field} must be a list of at most {MAX_MCP_TOOL_NAMES} tool names.", field=field)
    for name in names:
        if not isinstance(name, str) or not MCP_TOOL_NAME.match(name):
            problem = f"{field}: {str(name)[:80]!r} is not a tool name (letters, digits, _ . -)."
            raise errors.ToolError(problem, field=field)


def authorization_validate(value):
    if value and (len(value) > MAX_AUTHORIZATION_CHARS or not AUTHORIZATION.match(value)):
        raise errors.ToolError(
            f"The authorization must be printable ASCII on one line, at most {MAX_AUTHORIZATION_CHARS} characters.",
            field="authorization",
        )


def mcp_server_validate(*, server):
    if not re.match(TOOL_NAME, server.server_label or ""):
        raise errors.ToolNameInvalid(field="server_label")
    url_validate(server.server_url)
    _names_validate(server.allowed_tools, "allowed_tools")
    _names_validate(server.approved_tools, "approved_tools")
    others = McpServer.objects.filter(tenant_id=server.tenant_id).exclude(pk=server.pk)
    if others.filter(server_label=server.server_label).exists():
        raise errors.ToolNameTaken(f"The tenant already has an MCP server labelled {server.server_label!r}.")
    if server.pk is None and others.count() >= MAX_MCP_SERVERS_PER_TENANT:
        raise errors.ToolsLimitReached(f"A tenant may have at most {MAX_MCP_SERVERS_PER_TENANT} MCP servers.")
