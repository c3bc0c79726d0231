"""The built-in tools: Python callables the operator registers by dotted path (the EMAIL_BACKEND pattern).

    SPEECH_TOOLS = {
        "end_call": "speech.tools.builtins.end_call",
        "current_time": "speech.tools.builtins.current_time",
        "lookup": {"handler": "myapp.tools.lookup", "description": "...", "parameters": {...}},
    }

A value is a dotted path, or a dict with "handler" (a dotted path) and the model-facing "description"
and "parameters" (a JSON Schema of type object). The shipped built-ins' descriptions live here, so
minting and validation never import a handler; handlers are imported on first use (BuiltinTool.load).
"""

from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

# What the model is told about the shipped built-ins (a registration under another name may reuse them).
SHIPPED = {
    "end_call": {
        "description": (
            "End the call politely when the conversation is over or the user asks to hang up. "
            "The gateway says goodbye, then hangs up."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "maxLength": 200, "description": "Why the call ends, in a few words."}
            },
            "additionalProperties": False,
        },
    },
    "current_time": {
        "description": "The current date and time in the tenant's time zone.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    },
}
DEFAULT_SPEECH_TOOLS = {
    "end_call": "speech.tools.builtins.end_call",
    "current_time": "speech.tools.builtins.current_time",
}


class BuiltinNotFound(LookupError):
    pass


@dataclass(frozen=True)
class BuiltinTool:
    """A built-in tool: what the model is told (name, description, parameters) and what runs it.

    `handler` is a dotted path (imported on first `load()`) or the callable itself; its calling
    convention is the runner's (speech/supervisor/tools.py).
    """

    name: str
    description: str
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    handler: object = None

    def load(self):
        return _import(self.handler) if isinstance(self.handler, str) else self.handler


@cache
def _import(path):
    return import_string(path)


def _entry(name, value):
    meta = dict(value) if isinstance(value, dict) else {}
    handler = meta.pop("handler", None) if isinstance(value, dict) else value
    path_name = handler.rsplit(".", 1)[-1] if isinstance(handler, str) else ""
    shipped = SHIPPED.get(name) or SHIPPED.get(path_name) or {}
    return BuiltinTool(
        name=name,
        description=meta.get("description", shipped.get("description", "")),
        parameters=meta.get("parameters", shipped.get("parameters", {"type": "object", "properties": {}})),
        handler=handler,
    )


@cache
def _registry():
    tools = getattr(settings, "SPEECH_TOOLS", DEFAULT_SPEECH_TOOLS)
    return {name: _entry(name, value) for name, value in tools.items()}


def builtins_all():
    """Every registered built-in, by name."""
    return dict(_registry())


def builtin_get(name):
    """The built-in registered as `name`. Raises BuiltinNotFound."""
    try:
        return _registry()[name]
    except KeyError:
        raise BuiltinNotFound(name) from None


def _reset(*, setting, **kwargs):
    if setting == "SPEECH_TOOLS":
        _registry.cache_clear()


setting_changed.connect(_reset)
