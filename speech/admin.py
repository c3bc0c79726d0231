from django.contrib import admin

from .models import SessionAudit


@admin.register(SessionAudit)
class SessionAuditAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the gateway alone."""

    list_display = ["created_at", "tenant", "actor", "provider", "model", "voice", "outcome", "error_code",
                    "duration_ms", "client_ip"]  # fmt: skip
    list_filter = ["outcome", "tenant", "provider", "error_code", "created_at"]
    search_fields = ["tenant__slug", "user__username", "api_key__prefix", "client_ip", "error_code"]
    list_select_related = ["tenant", "user", "api_key"]
    date_hierarchy = "created_at"

    @admin.display(description="who")
    def actor(self, audit):
        if audit.api_key_id:
            return f"API key {audit.api_key.prefix}"
        return audit.user or "anonymous"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
