from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .forms import SpeechSettingsForm
from .models import Membership, SettingsChange, SpeechSettings, Tenant, TenantAPIKey, TenantHostname
from .registry import ProviderNotFound
from .secrets import tenant_credential_status


def _warn_about_retired_values(request, speech_settings):
    for notice in speech_settings.warnings():
        messages.warning(request, notice)


@admin.display(description="API key")
def api_key_status(speech_settings):
    if speech_settings.pk is None:
        return "-"
    try:
        return str(tenant_credential_status(speech_settings=speech_settings))
    except ProviderNotFound:
        return "unknown provider"


class TenantHostnameInline(admin.TabularInline):
    model = TenantHostname
    extra = 1


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class SpeechSettingsInline(admin.StackedInline):
    model = SpeechSettings
    form = SpeechSettingsForm
    can_delete = False
    readonly_fields = [api_key_status]
    min_num = 1
    max_num = 1


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "provider", "created_at"]
    list_filter = ["is_active", "speech_settings__provider"]
    search_fields = ["slug", "name", "hostnames__hostname"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantHostnameInline, MembershipInline, SpeechSettingsInline]
    fieldsets = [
        (None, {"fields": ["slug", "name", "is_active"]}),
        ("Access", {"fields": ["allow_anonymous_sessions", "allowed_origins", "shared_credentials"]}),
        (
            "Rate limits (sessions per period, e.g. 30/m)",
            {"fields": ["rate_limit_user", "rate_limit_api_key", "rate_limit_anonymous", "rate_limit_tenant"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Granting the operator's shared keys is the operator's decision, not a tenant admin's.
        if request.user.is_superuser:
            return self.readonly_fields
        return [*self.readonly_fields, "shared_credentials"]

    @admin.display(ordering="speech_settings__provider")
    def provider(self, tenant):
        return getattr(getattr(tenant, "speech_settings", None), "provider", "-")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if hasattr(form.instance, "speech_settings"):
            _warn_about_retired_values(request, form.instance.speech_settings)


@admin.register(SpeechSettings)
class SpeechSettingsAdmin(admin.ModelAdmin):
    form = SpeechSettingsForm
    list_display = ["tenant", "provider", "model", "voice", "turn_detection", "updated_at"]
    list_filter = ["provider", "model", "voice", "turn_detection"]
    list_select_related = ["tenant"]
    search_fields = ["tenant__slug", "tenant__name", "model", "voice"]
    readonly_fields = ["tenant", api_key_status, "updated_at"]

    def has_add_permission(self, request):
        return False  # settings are created with their tenant

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        _warn_about_retired_values(request, obj)


# The library registers its own, tenant-less APIKey; our API refuses such keys, so only the tenant's is offered.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(TenantAPIKey)
class TenantAPIKeyAdmin(APIKeyModelAdmin):
    """The key is shown once, when it is created; only its hash is stored."""

    list_display = [*APIKeyModelAdmin.list_display, "tenant", "scope"]
    list_filter = [*APIKeyModelAdmin.list_filter, "tenant", "scope"]
    search_fields = [*APIKeyModelAdmin.search_fields, "tenant__slug"]


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For records the application writes and people only read (audit trails)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SettingsChange)
class SettingsChangeAdmin(ReadOnlyModelAdmin):
    """Read-only: who changed a tenant's speech settings through the API or the shell, and how."""

    list_display = ["created_at", "tenant", "user", "api_key_prefix", "changes"]
    list_filter = ["tenant", "created_at"]
    list_select_related = ["tenant", "user"]
