import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CallStatus(models.TextChoices):
    MINTED = "minted", "Minted"  # a secret (or relay answer) was handed out; no call id known yet
    ACTIVE = "active", "Active"  # the provider's call id is known; the supervisor joins it
    ENDED = "ended", "Ended"


class EndReason(models.TextChoices):
    HUNG_UP = "hung_up", "Hung up by the user"
    TIME_LIMIT = "time_limit", "Longest call reached"
    IDLE = "idle", "Idle too long"
    BUDGET = "budget", "Monthly budget spent"
    PROVIDER_ERROR = "provider_error", "Provider error"
    SUPERVISOR_LOST = "supervisor_lost", "Supervisor lost the call"
    NEVER_CONNECTED = "never_connected", "Never connected"
    NOT_OWNED = "not_owned", "Refused: not the session the gateway minted"
    AGENT_ENDED = "agent_ended", "Ended by the agent (end_call tool)"


class Call(models.Model):
    """One call the gateway minted: who, with what, when, how it ended, what it used.

    `id` is public (API, signed session reference); `provider_call_id` is the provider's ("rtc_..."),
    learned from the relay's Location header (unified mode) or from the browser's bound report (direct mode).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("settings_admin.Tenant", on_delete=models.CASCADE, related_name="calls")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey("settings_admin.TenantAPIKey", null=True, blank=True, on_delete=models.SET_NULL)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=100)
    voice = models.CharField(max_length=64)
    webrtc_mode = models.CharField(max_length=16)
    provider_session_id = models.CharField(max_length=128, blank=True, help_text="The minted session's id.")
    provider_call_id = models.CharField(max_length=128, blank=True, help_text="The provider's call id.")
    status = models.CharField(max_length=10, choices=CallStatus.choices, default=CallStatus.MINTED)
    minted_at = models.DateTimeField(db_index=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    records_transcript = models.BooleanField(default=False, help_text="The tenant recorded transcripts at mint time.")
    input_text_tokens = models.PositiveBigIntegerField(default=0)
    input_audio_tokens = models.PositiveBigIntegerField(default=0)
    input_cached_tokens = models.PositiveBigIntegerField(default=0)
    output_text_tokens = models.PositiveBigIntegerField(default=0)
    output_audio_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0, help_text="Estimate, in USD.")

    class Meta:
        ordering = ["-minted_at"]
        indexes = [
            models.Index(fields=["tenant", "minted_at"]),
            models.Index(fields=["status", "minted_at"]),
        ]
        constraints = [
            # One record per provider call: a second report of the same call id is refused.
            models.UniqueConstraint(
                fields=["provider", "provider_call_id"],
                condition=~Q(provider_call_id=""),
                name="call_unique_provider_call",
            ),
        ]

    def __str__(self):
        return f"{self.provider_call_id or self.pk} ({self.tenant_id}, {self.status})"

    @property
    def duration_seconds(self):
        """Connected time: to the end, or so far while the call lasts."""
        if self.connected_at is None:
            return 0.0
        return max(0.0, ((self.ended_at or timezone.now()) - self.connected_at).total_seconds())

    @property
    def total_tokens(self):
        return self.input_text_tokens + self.input_audio_tokens + self.output_text_tokens + self.output_audio_tokens


class Speaker(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class TranscriptLine(models.Model):
    """One said line. `key` (the provider's item id and content index) makes recording idempotent: a
    re-joined supervisor that sees the same line again writes nothing."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="transcript")
    key = models.CharField(max_length=160)
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    text = models.TextField()
    said_at = models.DateTimeField()

    class Meta:
        ordering = ["said_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["call", "key"], name="transcript_line_once")]

    def __str__(self):
        return f"{self.speaker}: {self.text[:60]}"


class ResponseUsage(models.Model):
    """The usage of one `response.done`; one row per response id, so a repeated event counts once."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="responses")
    response_id = models.CharField(max_length=128)
    done_at = models.DateTimeField()
    input_text_tokens = models.PositiveBigIntegerField(default=0)
    input_audio_tokens = models.PositiveBigIntegerField(default=0)
    input_cached_tokens = models.PositiveBigIntegerField(default=0)
    output_text_tokens = models.PositiveBigIntegerField(default=0)
    output_audio_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "response_id"], name="response_usage_once")]

    def __str__(self):
        return self.response_id


def time_zone_validate(value):
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Not a known IANA time zone.", code="invalid_time_zone") from None


class BudgetUnit(models.TextChoices):
    MINUTES = "minutes", "Call minutes"
    TOKENS = "tokens", "Tokens"
    COST = "cost", "Cost (USD)"


class CallPolicy(models.Model):
    """A tenant's rules for its calls. A tenant without one gets the operator's defaults (SPEECH_CALL_*)."""

    tenant = models.OneToOneField("settings_admin.Tenant", on_delete=models.CASCADE, related_name="call_policy")
    record_transcripts = models.BooleanField(default=False, help_text="Keep what the user and the agent said.")
    # Bounded: a retention past datetime's range would stop calls_prune for every tenant, and a day-long call or
    # idle limit is as far as a tenant may hold a supervisor's slot.
    transcript_retention_days = models.PositiveIntegerField(
        default=30, validators=[MaxValueValidator(3650)],
        help_text="Transcripts older than this are deleted by `manage.py calls_prune` (at most 3650).",
    )  # fmt: skip
    max_call_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(86400)],
        help_text="Longest call (at most 86400); the server ends longer ones. Empty: the operator's default.",
    )  # fmt: skip
    idle_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(86400)],
        help_text="End a call after this long without speech (at most 86400). Empty: the operator's default.",
    )  # fmt: skip
    monthly_budget = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, help_text="Empty: no budget."
    )
    budget_unit = models.CharField(max_length=10, choices=BudgetUnit.choices, default=BudgetUnit.MINUTES)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[time_zone_validate],
        help_text="IANA time zone (Europe/Paris) the current_time tool answers in; empty: the operator's.",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "call policies"

    def __str__(self):
        return f"Call policy of {self.tenant_id}"


class ToolRunStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # the model was given a structured error (error_code)
    FORGED = "forged", "Forged output"  # a function_call_output the supervisor did not send (the browser's)


class ToolRun(models.Model):
    """One tool call of a call, as the supervisor ran it (or a forged output it saw). Arguments and result are
    stored as "***" when the tool masks them. One run per provider call id, so a re-joined supervisor that sees
    the call again records nothing twice; forged outputs are keyed by their item id."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="tool_runs")
    provider_call_id = models.CharField(max_length=128, help_text="The function call's call_id.")
    item_id = models.CharField(max_length=128, blank=True, help_text="The output item's id.")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, blank=True, help_text="webhook or builtin; empty for an unknown tool.")
    status = models.CharField(max_length=10, choices=ToolRunStatus.choices)
    error_code = models.CharField(max_length=64, blank=True)
    arguments = models.TextField(blank=True)
    result = models.TextField(blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "provider_call_id"], condition=~Q(status="forged"), name="tool_run_once"
            ),
            models.UniqueConstraint(fields=["call", "item_id"], condition=Q(status="forged"), name="tool_forged_once"),
        ]

    def __str__(self):
        return f"{self.name} ({self.status})"
