"""A call's limits: longest call, idle time, the tenant's monthly budget; and what the call hears at one."""

from ..calls.models import EndReason

# What the user hears before the server hangs up (spoken by the provider's model, told "Say exactly: ...").
NOTICES = {
    EndReason.TIME_LIMIT: "This call has reached its time limit and will end now. Goodbye.",
    EndReason.IDLE: "This call has been quiet for too long and will end now. Goodbye.",
    EndReason.BUDGET: "This account's monthly call budget is spent, so the call will end now. Goodbye.",
    EndReason.AGENT_ENDED: "Thank you for calling. Goodbye.",  # the end_call tool
}


NOTICE_METADATA = "gateway_notice"  # the notice's response carries the reason under this metadata key


def notice_event(reason, *, event_id):
    """The client event that has the model say the notice (a ResponseCreateEvent of OpenAI's GA interface)."""
    return {
        "type": "response.create",
        "event_id": event_id,
        "response": {"instructions": f"Say exactly: {NOTICES[reason]}", "metadata": {NOTICE_METADATA: str(reason)}},
    }


def time_limit_reached(*, policy, talked_seconds):
    return policy.max_call_seconds is not None and talked_seconds >= policy.max_call_seconds


def idle_limit_reached(*, policy, idle_seconds):
    return policy.idle_seconds is not None and idle_seconds >= policy.idle_seconds


def budget_spent(*, policy, spent):
    """Whether `spent` (speech.calls.selectors.month_spent, in the policy's unit) has reached the monthly budget."""
    return policy.monthly_budget is not None and spent >= policy.monthly_budget
