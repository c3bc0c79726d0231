"""Tools and MCP servers in Django admin. A webhook's signing secret is shown once, in the message after the
save that creates (or rotates) it; an MCP authorization is typed in, never shown."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from .. import errors
from .models import McpServer, Tool, ToolKind
from .secrets import backend_writable, mcp_authorization_forget, mcp_authorization_set, webhook_secret_new
from .services import tool_delete
from .validation import authorization_validate


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

    def delete_model(self, request, obj):
        tool_delete(tool=obj)

    def delete_queryset(self, request, queryset):
        for tool in queryset:
            tool_delete(tool=tool)

    @admin.action(description="Rotate the webhook signing secret (shown once)")
    def rotate_webhook_secret(self, request, queryset):
        for tool in queryset.filter(kind=ToolKind.WEBHOOK):
            secret = webhook_secret_new(tool=tool)
            tool.save(update_fields=["webhook_secret_ref", "webhook_secret_version", "updated_at"])
            _secret_shown(request, tool, secret)


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

    def delete_model(self, request, obj):
        mcp_authorization_forget(server=obj)
        obj.delete()

    def delete_queryset(self, request, queryset):
        for server in queryset:
            self.delete_model(request, server)
