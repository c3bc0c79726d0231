"""Function calling by the local model, by a deterministic rule (docs/local-provider.md, "Function calling").

A user message that contains a function tool's name (underscores and hyphens may be spoken as spaces,
case does not matter) calls that tool. Its arguments come from `key=value` pairs in the message, typed
by the tool's JSON Schema (integer, number, boolean, string; a value that does not parse as its type is
passed on as the string it was, as a real model may do: the handler must validate), and otherwise
from the schema's defaults. `tool_choice` is honoured: "none" calls nothing, "required" calls the first
tool when no name is in the message, `{"type": "function", "name": ...}` calls that tool.
"""

import json
import re

PAIR = re.compile(r"""([A-Za-z_][\w-]*)\s*=\s*("[^"]*"|'[^']*'|[^\s,;]+)""")
TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


# An MCP tool's credentials: OpenAI treats them as write-only, and the local model never calls an MCP server,
# so they are dropped from the session it keeps (which goes into the client secret and every session event).
WRITE_ONLY_KEYS = ("authorization", "headers")


def tools_redact(tools):
    """`tools` without the write-only keys of any entry (an entry that is not an object is kept as it is)."""
    return [
        {key: value for key, value in tool.items() if key not in WRITE_ONLY_KEYS} if isinstance(tool, dict) else tool
        for tool in tools
    ]


def function_tools(tools):
    return [
        tool
        for tool in tools or []
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str)
    ]


def _words(text):
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _mentions(text, name):
    spoken = _words(name.replace("_", " ").replace("-", " "))
    return bool(spoken) and re.search(rf"(?<![a-z0-9]){re.escape(spoken)}(?![a-z0-9])", _words(text)) is not None


def _typed(value, schema):
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            number = float(value)
            return int(number) if number.is_integer() and "." not in value else number
        if kind == "boolean" and value.lower() in TRUE | FALSE:
            return value.lower() in TRUE
    except ValueError:
        pass
    return value


def tool_arguments(text, parameters):
    """The arguments object for a call: schema defaults, overridden by the message's key=value pairs."""
    properties = (parameters or {}).get("properties") or {}
    arguments = {name: schema["default"] for name, schema in properties.items() if "default" in (schema or {})}
    for key, raw in PAIR.findall(text):
        if key not in properties:
            continue
        if raw[:1] in "\"'" and raw[-1:] == raw[:1]:
            arguments[key] = raw[1:-1]  # quoted: a string, whatever the schema says
        else:
            arguments[key] = _typed(raw, properties[key])
    return arguments


def tool_call_for(text, *, tools, tool_choice=None):
    """(name, arguments as a JSON string) of the call the message asks for, or None."""
    tools, tool_choice = function_tools(tools), tool_choice or "auto"
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        chosen = [tool for tool in tools if tool["name"] == tool_choice.get("name")]
    else:
        # The longest name first, so "check_order_status" wins over "check_order" in the same message.
        chosen = [tool for tool in sorted(tools, key=lambda t: -len(t["name"])) if _mentions(text, tool["name"])][:1]
        if not chosen and tool_choice == "required":
            chosen = tools[:1]
    if not chosen:
        return None
    tool = chosen[0]
    return tool["name"], json.dumps(tool_arguments(text, tool.get("parameters")), separators=(",", ":"))
