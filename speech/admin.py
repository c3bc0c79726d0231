from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from settings_admin.admin import ReadOnlyModelAdmin
from settings_admin.models import Tenant

from .calls import admin as calls_admin  # noqa: F401  (registers Call and CallPolicy)
from .charts import bar_chart
from .models import SessionAudit
from .selectors import tenant_usage
from .tools import admin as tools_admin  # noqa: F401  (registers Tool and McpServer)


@admin.register(SessionAudit)
class SessionAuditAdmin(ReadOnlyModelAdmin):
    """Read-only: the audit log is written by the gateway alone."""

    # Narrow columns, so the list fits a 1280 px window beside its filters (audit.css wraps long values).
    list_display = ["when", "tenant", "actor", "session", "result", "duration", "client_ip"]
    list_filter = ["outcome", "tenant", "provider", "error_code", "created_at"]
    search_fields = ["tenant__slug", "user__username", "api_key__prefix", "client_ip", "error_code"]
    list_select_related = ["tenant", "user", "api_key"]
    date_hierarchy = "created_at"

    class Media:
        css = {"all": ["speech/admin-audit.css"]}

    def changelist_view(self, request, extra_context=None):
        # The list needs the width: the navigation sidebar stays a click away (the admin's own toggle).
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    @admin.display(description="when", ordering="created_at")
    def when(self, audit):
        return timezone.localtime(audit.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="provider · model · voice", ordering="provider")
    def session(self, audit):
        return format_html("{}<br><small>{} · {}</small>", audit.provider, audit.model, audit.voice)

    @admin.display(description="result", ordering="error_code")
    def result(self, audit):
        return audit.error_code or audit.outcome

    @admin.display(description="ms", ordering="duration_ms")
    def duration(self, audit):
        return round(audit.duration_ms)

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
        hour_title = f"hour ({timezone.get_current_timezone_name()})"
        context = {
            **self.admin_site.each_context(request),
            "title": f"Usage of {tenant}" if tenant else "Usage",
            "opts": self.model._meta,
            "tenant": tenant,
            "tenants": [(t, reverse("admin:speech_sessionaudit_usage_tenant", args=[t.pk])) for t in tenants],
            "charts": [
                ("Last 24 hours, per hour", bar_chart(usage["hours"], label_format="%H:00", x_title=hour_title)),
                ("Last 30 days, per day", bar_chart(usage["days"], label_format="%b %d", x_title="day")),
            ]
            if usage
            else [],
        }
        return TemplateResponse(request, "admin/speech/usage.html", context)
