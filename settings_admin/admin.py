from django.contrib import admin, messages
from django.db import router, transaction
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .forms import SpeechSettingsForm
from .models import Membership, SettingsChange, SpeechSettings, Tenant, TenantAPIKey, TenantHostname
from .registry import ProviderNotFound
from .secrets import SecretsError, tenant_credential_status
from .selectors import speech_settings_for_change
from .services import speech_settings_update


def _warn_about_retired_values(request, speech_settings):
    for notice in speech_settings.warnings():
        messages.warning(request, notice)


class CredentialRefused(Exception):
    """The secrets store did not take the key typed into the form."""


def speech_settings_save(request, form, speech_settings):
    """Save a valid SpeechSettingsForm through the service the API and the command use, with the admin's
    name on the record; the typed key goes to the secrets store last (speech_settings_update)."""
    try:
        return speech_settings_update(
            speech_settings=speech_settings, changes=form.changes, user=request.user, **form.credential_change
        )
    except SecretsError as exc:
        raise CredentialRefused(str(exc)) from exc


class CredentialRefusalShown:
    """For the admins whose forms hold the write-only key.

    The whole submission is one transaction; when the secrets store refuses the key (the last write),
    it all rolls back and the same submission is shown again, with what was typed and the store's
    refusal on the key's field. Nothing is saved.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().changeform_view(request, object_id, form_url, extra_context)
        except CredentialRefused as exc:
            request.credential_refused = str(exc)
            return super().changeform_view(request, object_id, form_url, extra_context)


def _credential_refused(request):
    return getattr(request, "credential_refused", None)


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

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.credential_refused = _credential_refused(request)  # a class made for this request
        return formset


@admin.register(Tenant)
class TenantAdmin(CredentialRefusalShown, admin.ModelAdmin):
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

    def save_formset(self, request, form, formset, change):
        if formset.model is not SpeechSettings:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # writes nothing; notes what changed for the admin's change message
        # As Django's own save would, only a changed form is saved, here through the service.
        for settings_form in formset.initial_forms:
            if settings_form.has_changed():
                speech_settings_save(request, settings_form, speech_settings_for_change(tenant_id=form.instance.pk))
        for settings_form in formset.extra_forms:
            if settings_form.has_changed():
                speech_settings_save(request, settings_form, SpeechSettings(tenant=form.instance))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if hasattr(form.instance, "speech_settings"):
            _warn_about_retired_values(request, form.instance.speech_settings)


@admin.register(SpeechSettings)
class SpeechSettingsAdmin(CredentialRefusalShown, admin.ModelAdmin):
    form = SpeechSettingsForm
    list_display = ["tenant", "provider", "model", "voice", "turn_detection", "updated_at"]
    list_filter = ["provider", "model", "voice", "turn_detection"]
    list_select_related = ["tenant"]
    search_fields = ["tenant__slug", "tenant__name", "model", "voice"]
    readonly_fields = ["tenant", api_key_status, "updated_at"]

    def has_add_permission(self, request):
        return False  # settings are created with their tenant

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.credential_refused = _credential_refused(request)  # a class made for this request
        return form

    def save_model(self, request, obj, form, change):
        # `obj` already holds the form's values: the service is given the saved row and the changes.
        saved = speech_settings_save(request, form, speech_settings_for_change(tenant_id=obj.pk))
        _warn_about_retired_values(request, saved)


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
    """Read-only: who changed a tenant's speech settings (admin, API or command), and how."""

    list_display = ["created_at", "tenant", "user", "api_key_prefix", "changes"]
    list_filter = ["tenant", "created_at"]
    list_select_related = ["tenant", "user"]
