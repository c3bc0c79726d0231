from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from settings_admin.admin import ReadOnlyModelAdmin
from settings_admin.models import Tenant

from .calls import admin as calls_admin  # noqa: F401  (registers Call and CallPolicy)
from .charts import bar_chart
from .models import SessionAudit
from .selectors import tenant_usage


@admin.register(SessionAudit)
class SessionAuditAdmin(ReadOnlyModelAdmin):
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

    def get_urls(self):
        usage = self.admin_site.admin_view(self.usage_view)
        return [
            path("usage/", usage, name="speech_sessionaudit_usage"),
            path("usage/<int:tenant_id>/", usage, name="speech_sessionaudit_usage_tenant"),
            *super().get_urls(),
        ]

    def usage_view(self, request, tenant_id=None):
        """Sessions and failures per tenant over the last 24 hours and 30 days."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        tenants = Tenant.objects.order_by("slug")
        tenant = get_object_or_404(Tenant, pk=tenant_id) if tenant_id else tenants.first()
        usage = tenant_usage(tenant_id=tenant.pk, now=timezone.now()) if tenant else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Usage of {tenant}" if tenant else "Usage",
            "opts": self.model._meta,
            "tenant": tenant,
            "tenants": [(t, reverse("admin:speech_sessionaudit_usage_tenant", args=[t.pk])) for t in tenants],
            "charts": [
                ("Last 24 hours, per hour", bar_chart(usage["hours"], label_format="%H:00")),
                ("Last 30 days, per day", bar_chart(usage["days"], label_format="%b %d")),
            ]
            if usage
            else [],
        }
        return TemplateResponse(request, "admin/speech/usage.html", context)
