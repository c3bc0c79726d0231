from django.conf import settings
from django.db import models

from .calls.models import Call, CallPolicy, ResponseUsage, TranscriptLine  # noqa: F401  (models of this app)
from .tools.models import McpServer, Tool  # noqa: F401  (models of this app)


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class SessionAudit(models.Model):
    """One record per attempt to mint a session. Never holds a key or a client secret."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant = models.ForeignKey("settings_admin.Tenant", on_delete=models.CASCADE, related_name="session_audits")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey("settings_admin.TenantAPIKey", null=True, blank=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=100)
    voice = models.CharField(max_length=64)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    duration_ms = models.FloatField()
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="audits")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.tenant_id} {self.outcome} {self.error_code}"
