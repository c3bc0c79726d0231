"""Tools and MCP servers in Django admin. A webhook's signing secret is shown once, in the message after the
save that creates (or rotates) it; an MCP authorization is typed in, never shown."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from .. import errors
from .models import McpServer, Tool, ToolKind
from .secrets import backend_writable, mcp_authorization_set, webhook_secret_new
from .services import (
    MCP_FIELDS,
    TOOL_FIELDS,
    mcp_server_delete,
    tool_delete,
    tool_webhook_secret_rotate,
    tools_change_record,
)
from .validation import authorization_validate


def _record(request, form, change, *, what, fields):
    if change:
        pairs = {field: [form.initial.get(field), form.cleaned_data.get(field)] for field in form.changed_data}
        changes = {f"{what}.{field}": pair for field, pair in pairs.items() if field in fields and pair[0] != pair[1]}
    else:
        changes = {what: [None, {field: form.cleaned_data.get(field) for field in fields}]}
    tools_change_record(tenant_id=form.instance.tenant_id, user=request.user, changes=changes)


def _secret_shown(request, tool, secret):
    messages.warning(
        request,
        f"The signing secret of the webhook tool {tool.name!r} is {secret} — shown only now: copy it to the "
        "webhook's verifier (docs/tools.md).",
    )


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "kind", "enabled", "timeout_seconds", "updated_at"]
    list_filter = ["tenant", "kind", "enabled"]
    search_fields = ["name", "tenant__slug", "webhook_url"]
    list_select_related = ["tenant"]
    fields = ["tenant", "name", "kind", "builtin", "webhook_url", "description", "parameters", "enabled",
              "timeout_seconds", "mask_arguments", "mask_result"]  # fmt: skip
    actions = ["rotate_webhook_secret"]

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if obj.kind == ToolKind.WEBHOOK and not obj.webhook_secret_ref and obj.webhook_secret_version == 0:
                secret = webhook_secret_new(tool=obj)
                obj.save(update_fields=["webhook_secret_ref", "webhook_secret_version"])
                _secret_shown(request, obj, secret)
            _record(request, form, change, what=f"tools.{obj.name}", fields=TOOL_FIELDS)

    def delete_model(self, request, obj):
        tool_delete(tool=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for tool in queryset:
            tool_delete(tool=tool, user=request.user)

    @admin.action(description="Rotate the webhook signing secret (shown once)")
    def rotate_webhook_secret(self, request, queryset):
        for tool in queryset.filter(kind=ToolKind.WEBHOOK):
            _secret_shown(request, tool, tool_webhook_secret_rotate(tool=tool, user=request.user).webhook_secret)


class McpServerForm(forms.ModelForm):
    authorization = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text='A new authorization (e.g. "Bearer ..."), kept in the secrets backend; empty keeps the current one.',
    )
    remove_authorization = forms.BooleanField(required=False)

    class Meta:
        model = McpServer
        fields = ["tenant", "server_label", "server_url", "allowed_tools", "require_approval", "approved_tools",
                  "enabled"]  # fmt: skip

    def clean_authorization(self):
        value = self.cleaned_data["authorization"]
        if value:
            try:
                authorization_validate(value)
            except errors.ToolError as exc:
                raise forms.ValidationError(exc.message) from None
            if not backend_writable():
                raise forms.ValidationError(errors.McpAuthorizationUnavailable.message)
        return value


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ["server_label", "tenant", "server_url", "require_approval", "enabled", "has_authorization"]
    list_filter = ["tenant", "require_approval", "enabled"]
    search_fields = ["server_label", "tenant__slug", "server_url"]
    list_select_related = ["tenant"]

    @admin.display(boolean=True, description="authorization")
    def has_authorization(self, server):
        return bool(server.authorization_ref)

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if form.cleaned_data.get("remove_authorization"):
                mcp_authorization_set(server=obj, value="")
            elif form.cleaned_data.get("authorization"):
                mcp_authorization_set(server=obj, value=form.cleaned_data["authorization"])
            obj.save(update_fields=["authorization_ref"])
            _record(request, form, change, what=f"mcp_servers.{obj.server_label}", fields=MCP_FIELDS)

    def delete_model(self, request, obj):
        mcp_server_delete(server=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for server in queryset:
            self.delete_model(request, server)
