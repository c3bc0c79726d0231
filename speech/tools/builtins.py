"""The built-in tools the gateway ships (SPEECH_TOOLS names them by dotted path, the EMAIL_BACKEND pattern).

A built-in's handler is called as `handler(arguments=..., context=...)` with the validated arguments and a
ToolContext; it returns a JSON value (the output the model is given) and may raise ToolFailure for a structured
error. Any other exception becomes {"error": {"code": "tool_failed"}}. A plain function runs in a worker thread
(it must not block the supervisor's loop); a coroutine function runs on the loop.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass
class ToolContext:
    """What a built-in knows of its call. `end_requested` set by a handler asks the supervisor to end the call
    (a goodbye, then the provider's hang-up) once the output is sent. Its description and parameters are in
    speech/tools/registry.py (SHIPPED)."""

    call_id: str
    tenant_id: int
    time_zone: str = "UTC"
    end_requested: bool = False


def end_call(*, arguments, context):
    """The agent ends the call politely: the supervisor says a goodbye, hangs up, and ends the record
    `agent_ended`."""
    context.end_requested = True
    return {"ending": True, "reason": arguments.get("reason", "")}


def current_time(*, arguments, context):
    """The time now in the tenant's time zone (its call policy's), ISO 8601 and spoken-friendly."""
    zone = ZoneInfo(context.time_zone)
    now = datetime.now(zone)
    return {"time_zone": context.time_zone, "iso": now.isoformat(timespec="seconds"),
            "text": now.strftime("%A %d %B %Y, %H:%M")}  # fmt: skip
