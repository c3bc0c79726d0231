"""A tenant's tools: function tools (run by the call supervisor) and MCP servers (run by the provider).

Secrets never live in these rows: a webhook's signing secret and an MCP server's authorization are in
the secrets backend, referenced by name (speech/tools/secrets.py).
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
name_validator = RegexValidator(TOOL_NAME, "Letters, digits, _ and - only, 1 to 64 characters.")
TIMEOUT_MIN, TIMEOUT_MAX = 0.5, 30.0


def _clean(validate, instance, url_field):
    from .. import errors

    try:
        validate(instance)
    except errors.ToolError as exc:
        field = {"url": url_field}.get(exc.field, exc.field)
        if field not in {f.name for f in instance._meta.fields}:
            field = NON_FIELD_ERRORS
        raise ValidationError({field: exc.message}, code=exc.code) from None


class ToolKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (the tenant's HTTPS endpoint)"
    BUILTIN = "builtin", "Built-in (shipped with the gateway)"


def default_parameters():
    return {"type": "object", "properties": {}}


class Tool(models.Model):
    tenant = models.ForeignKey("settings_admin.Tenant", on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=64, validators=[name_validator], help_text="The name the model calls.")
    description = models.TextField(blank=True, max_length=2000, help_text="Tells the model when to call it.")
    parameters = models.JSONField(
        default=default_parameters, help_text='The arguments as a JSON Schema of "type": "object".'
    )
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(TIMEOUT_MIN), MaxValueValidator(TIMEOUT_MAX)],
        help_text=f"Total deadline of one run, {TIMEOUT_MIN} to {TIMEOUT_MAX:g} seconds.",
    )
    kind = models.CharField(max_length=16, choices=ToolKind.choices, default=ToolKind.WEBHOOK)
    webhook_url = models.CharField(max_length=2000, blank=True, help_text="https:// only, on an allowed host.")
    builtin = models.CharField(max_length=64, blank=True, help_text="A built-in's name (SPEECH_TOOLS).")
    mask_arguments = models.BooleanField(default=False, help_text='Record the arguments as "***".')
    mask_result = models.BooleanField(default=False, help_text='Record the result as "***".')
    # Where the webhook's signing secret lives in the secrets backend, or "" when it is derived
    # (a read-only backend: see speech/tools/secrets.py); the version rotates a derived secret (0: none yet).
    webhook_secret_ref = models.CharField(max_length=255, blank=True, editable=False)
    webhook_secret_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tool_name_unique_per_tenant")]

    def __str__(self):
        return self.name

    def clean(self):
        from .validation import tool_validate

        _clean(lambda tool: tool_validate(tool=tool), self, "webhook_url")


class ApprovalPolicy(models.TextChoices):
    NEVER = "never", "Never: the provider calls the server's tools directly"
    ALWAYS = "always", "Always: the supervisor approves only the approved tools"


class McpServer(models.Model):
    tenant = models.ForeignKey("settings_admin.Tenant", on_delete=models.CASCADE, related_name="mcp_servers")
    server_label = models.CharField(max_length=64, validators=[name_validator])
    server_url = models.CharField(max_length=2000, help_text="https:// only, on an allowed host.")
    allowed_tools = models.JSONField(
        default=list, blank=True, help_text="Tool names the model may use; empty: all the server offers."
    )
    require_approval = models.CharField(max_length=8, choices=ApprovalPolicy.choices, default=ApprovalPolicy.NEVER)
    approved_tools = models.JSONField(
        default=list, blank=True, help_text='With "always": the tools the supervisor approves; others are denied.'
    )
    enabled = models.BooleanField(default=True)
    # Where the authorization (e.g. "Bearer ...") lives in the secrets backend, or "" for none.
    authorization_ref = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "server_label"]
        verbose_name = "MCP server"
        constraints = [models.UniqueConstraint(fields=["tenant", "server_label"], name="mcp_label_unique_per_tenant")]

    def __str__(self):
        return self.server_label

    def clean(self):
        from .validation import mcp_server_validate

        _clean(lambda server: mcp_server_validate(server=server), self, "server_url")
