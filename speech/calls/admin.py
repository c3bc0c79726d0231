"""Calls in Django admin: the list, each call with its transcript as a timeline, usage per tenant, policies."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from settings_admin.admin import ReadOnlyModelAdmin
from settings_admin.models import Tenant

from ..charts import series_chart
from .models import Call, CallPolicy, ResponseUsage, ToolRun, ToolRunStatus
from .selectors import calls_usage

TIMELINE_TOOL_TEXT = 200  # characters of a run's arguments or result on the call's page


def _offset(moment, start):
    seconds = max(0, round((moment - start).total_seconds()))
    return f"+{seconds // 60}:{seconds % 60:02d}"


def _clip(text):
    return text if len(text) <= TIMELINE_TOOL_TEXT else f"{text[: TIMELINE_TOOL_TEXT - 1]}…"


def _timeline_line(line, start):
    return format_html(
        '<li data-speaker="{}"><time datetime="{}" title="{}">{}</time> <strong>{}</strong>: {}</li>',
        line.speaker, line.said_at.isoformat(), line.said_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        _offset(line.said_at, start), line.get_speaker_display(), line.text,
    )  # fmt: skip


def _timeline_run(run, start):
    """A tool run: its name and arguments, then how it ended (the error code, or the result) and its time."""
    if run.status == ToolRunStatus.FORGED:  # an output the browser sent, not a run: what it said is shown
        outcome, result = "forged output (removed)", f" → {_clip(run.result)}" if run.result else ""
    else:
        outcome = f"failed ({run.error_code})" if run.error_code else run.get_status_display().lower()
        result = f" → {_clip(run.result)}" if run.result and not run.error_code else ""
    return format_html(
        '<li data-speaker="tool" data-status="{}"><time datetime="{}" title="{}">{}</time> <strong>Tool</strong>: '
        "<code>{}({})</code> {}{} <small>{} ms</small></li>",
        run.status, run.started_at.isoformat(), run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        _offset(run.started_at, start), run.name, _clip(run.arguments), outcome, result, run.duration_ms,
    )  # fmt: skip


class ResponseUsageInline(admin.TabularInline):
    model = ResponseUsage
    fields = ["done_at", "response_id", "input_text_tokens", "input_audio_tokens", "input_cached_tokens",
              "output_text_tokens", "output_audio_tokens", "cost"]  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "usage per response"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Call)
class CallAdmin(ReadOnlyModelAdmin):
    """Read-only: calls are written by the gateway and its supervisor alone."""

    # Seven columns: the list fits a 1280 px screen beside admin's navigation; provider and mode are filters.
    list_display = ["minted_at", "tenant", "actor", "outcome", "duration", "tokens", "cost"]
    list_filter = ["tenant", "minted_at", "status", "end_reason", "provider", "webrtc_mode"]
    search_fields = ["id", "provider_call_id", "provider_session_id", "user__username", "api_key__prefix", "client_ip"]
    list_select_related = ["tenant", "user", "api_key"]
    date_hierarchy = "minted_at"
    inlines = [ResponseUsageInline]
    fieldsets = [
        (None, {"fields": ["id", "tenant", "actor", "client_ip", "provider", "model", "voice", "webrtc_mode"]}),
        ("Life", {"fields": ["status", "minted_at", "connected_at", "ended_at", "duration", "end_reason",
                             "provider_session_id", "provider_call_id"]}),
        ("Usage", {"fields": ["input_text_tokens", "input_audio_tokens", "input_cached_tokens", "output_text_tokens",
                              "output_audio_tokens", "tokens", "cost"]}),
        ("Transcript", {"fields": ["records_transcript", "timeline"]}),
    ]  # fmt: skip
    readonly_fields = ["actor", "duration", "tokens", "timeline"]

    class Media:
        css = {"all": ["css/admin-calls.css"]}

    @admin.display(description="outcome", ordering="end_reason")
    def outcome(self, call):
        return call.get_end_reason_display() if call.end_reason else call.get_status_display()

    @admin.display(description="who")
    def actor(self, call):
        if call.api_key_id:
            return f"API key {call.api_key.prefix}"
        return call.user or "anonymous"

    @admin.display(description="duration")
    def duration(self, call):
        seconds = round(call.duration_seconds)
        return f"{seconds // 60}:{seconds % 60:02d}" if call.connected_at else "—"

    @admin.display(description="tokens")
    def tokens(self, call):
        return call.total_tokens

    @admin.display(description="what was said")
    def timeline(self, call):
        lines = list(call.transcript.all())
        runs = list(call.tool_runs.all())
        if not lines and not runs:
            return "Not recorded." if not call.records_transcript else "Nothing said yet."
        # Tool runs between the lines, in the order they happened.
        moments = sorted([(line.said_at, line) for line in lines] + [(run.started_at, run) for run in runs],
                         key=lambda moment: moment[0])  # fmt: skip
        start = call.connected_at or moments[0][0]
        items = [(_timeline_run(item, start) if isinstance(item, ToolRun) else _timeline_line(item, start),)
                 for _, item in moments]  # fmt: skip
        return format_html('<ol class="call-timeline">{}</ol>', format_html_join("", "{}", items))

    def get_urls(self):
        usage = self.admin_site.admin_view(self.usage_view)
        return [
            path("usage/", usage, name="speech_call_usage"),
            path("usage/<int:tenant_id>/", usage, name="speech_call_usage_tenant"),
            *super().get_urls(),
        ]

    def usage_view(self, request, tenant_id=None):
        """Calls, minutes, tokens and cost of one tenant per day (30 days) and per month (12 months)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        tenants = Tenant.objects.order_by("slug")
        tenant = get_object_or_404(Tenant, pk=tenant_id) if tenant_id else tenants.first()
        sections = []
        if tenant:
            usage = calls_usage(calls=Call.objects.filter(tenant=tenant), now=timezone.now())
            for period, axis, key, label_format in [
                ("Last 30 days, per day", "day (UTC)", "days", "%b %d"),
                ("Last 12 months, per month", "month (UTC)", "months", "%b %Y"),
            ]:
                buckets = usage[key]
                charts = [
                    (
                        title,
                        series_chart(
                            [(b.start, getattr(b, field)) for b in buckets],
                            label_format=label_format,
                            unit=unit,
                            x_title=axis,
                        ),
                    )  # fmt: skip
                    for title, field, unit in [
                        ("Calls", "calls", "calls"),
                        ("Minutes", "minutes", "minutes"),
                        ("Tokens", "tokens", "tokens"),
                        ("Cost", "cost", "USD"),
                    ]  # fmt: skip
                ]
                sections.append((period, charts))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Call usage of {tenant}" if tenant else "Call usage",
            "opts": self.model._meta,
            "tenant": tenant,
            "tenants": [(t, reverse("admin:speech_call_usage_tenant", args=[t.pk])) for t in tenants],
            "sections": sections,
        }
        return TemplateResponse(request, "admin/speech/call_usage.html", context)


@admin.register(CallPolicy)
class CallPolicyAdmin(admin.ModelAdmin):
    """A tenant's call rules: recording, retention, limits and budget (docs/calls.md)."""

    list_display = ["tenant", "record_transcripts", "transcript_retention_days", "max_call_seconds", "idle_seconds",
                    "monthly_budget", "budget_unit", "updated_at"]  # fmt: skip
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]
