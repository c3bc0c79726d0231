"""System checks for the gateway's own settings."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError

from settings_admin.models import RATE_FORMAT

GATEWAY_RATES = (
    "SPEECH_TELEMETRY_RATE", "SPEECH_SETTINGS_WRITE_RATE", "SPEECH_VOICE_PREVIEW_RATE", "SPEECH_CALL_REPORT_RATE",
)  # fmt: skip


@register()
def check_gateway_rates(app_configs=None, **kwargs):
    problems = []
    for name in GATEWAY_RATES:
        rate = getattr(settings, name)
        try:
            if rate:
                RATE_FORMAT(rate)
        except ValidationError:
            problems.append(
                Error(
                    f"{name} {rate!r} is not a rate.",
                    hint='Give a count per period such as "30/m", "5/10s" or "1000/d", or "" for no limit.',
                    id="speech.E001",
                )
            )
    return problems


@register()
def check_allowed_endpoint_hosts(app_configs=None, **kwargs):
    from .providers.base import host_entry_valid

    return [
        Error(
            f"SPEECH_ALLOWED_ENDPOINT_HOSTS entry {entry!r} is not a host.",
            hint='Give "host", "host:port", "[ipv6]:port" or ".suffix" (any name under it).',
            id="speech.E002",
        )
        for entry in settings.SPEECH_ALLOWED_ENDPOINT_HOSTS
        if not host_entry_valid(entry)
    ]


CALL_DISPATCHES = ("in_process", "redis")


@register()
def check_call_dispatch(app_configs=None, **kwargs):
    # A wrong value would leave every call unsupervised, one log line at a time: refuse it at start.
    dispatch = settings.SPEECH_CALL_DISPATCH
    if dispatch not in CALL_DISPATCHES:
        return [Error(f"SPEECH_CALL_DISPATCH {dispatch!r} is not a dispatch.", hint='Give "in_process" or "redis".',
                      id="speech.E010")]  # fmt: skip
    if dispatch == "redis" and not settings.REDIS_URL:
        return [Error('SPEECH_CALL_DISPATCH is "redis" but REDIS_URL is empty.',
                      hint='Set REDIS_URL, or SPEECH_CALL_DISPATCH="in_process".', id="speech.E011")]  # fmt: skip
    if settings.SPEECH_SUPERVISOR_MAX_CALLS < 1:
        return [Error("SPEECH_SUPERVISOR_MAX_CALLS must be 1 or more.", id="speech.E012")]
    return []


@register()
def check_tools(app_configs=None, **kwargs):
    from .errors import ToolError
    from .tools.hosts import tool_host_entry_valid
    from .tools.registry import builtins_all
    from .tools.validation import parameters_validate

    problems = [
        Error(
            f"SPEECH_TOOL_ALLOWED_HOSTS entry {entry!r} is not a host.",
            hint='Give "host", "host:port", "[ipv6]:port", ".suffix" (any name under it) or "*" (any public host).',
            id="speech.E020",
        )
        for entry in settings.SPEECH_TOOL_ALLOWED_HOSTS
        if not tool_host_entry_valid(entry)
    ]
    for name, builtin in builtins_all().items():
        if not (isinstance(builtin.handler, str) and "." in builtin.handler) and not callable(builtin.handler):
            problems.append(Error(f"SPEECH_TOOLS[{name!r}] names no handler.", id="speech.E021"))
        try:
            parameters_validate(builtin.parameters)
        except ToolError as exc:
            problems.append(Error(f"SPEECH_TOOLS[{name!r}] parameters: {exc.message}", id="speech.E021"))
    return problems
