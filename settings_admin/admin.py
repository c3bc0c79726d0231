from django.contrib import admin, messages
from django.db import router, transaction
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .forms import CREDENTIAL_FIELDS, option_field_names, speech_settings_form
from .models import Membership, SettingsChange, SpeechSettings, Tenant, TenantAPIKey, TenantHostname
from .registry import ProviderNotFound, registry
from .secrets import SecretsError, get_backend, tenant_credential_status
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


SETTINGS_FIELDSET = [
    "provider", "model", "voice", "endpoint", "allowed_models", "allowed_voices", "instructions",
    "turn_detection", "input_transcription_model", "secret_ttl_seconds", "webrtc_mode", "options",
]  # fmt: skip


def credential_help():
    """The one help text of the credential block: where keys come from, and how an admin changes one."""
    if get_backend().writable:
        return "A key typed here goes to the secrets store at the credential name and is never shown again."
    names = ", ".join(provider.credential_env for provider in registry.all() if provider.credential_env)
    return (
        f"Keys come from the server's environment ({names}), for the tenants a superuser grants them to; "
        "set VAULT_ADDR to keep each tenant's own keys in Vault and type them here."
    )


def speech_settings_fieldsets():
    credential = ["credential", "credential_ref", *(CREDENTIAL_FIELDS if get_backend().writable else [])]
    return [
        (None, {"fields": SETTINGS_FIELDSET}),
        ("Options of the provider", {"fields": option_field_names(), "classes": ["speech-options"]}),
        ("Credential", {"fields": credential, "description": credential_help()}),
    ]


class CredentialShown:
    """The credential block's first row: whether the key resolves, and from where (never the key)."""

    @admin.display(description="API key")
    def credential(self, speech_settings):
        if speech_settings.pk is None:
            return "Checked once the tenant is saved."
        try:
            status = tenant_credential_status(speech_settings=speech_settings)
        except ProviderNotFound:
            return f"Unknown provider {speech_settings.provider!r}."
        if status.ok:
            ending = f" ({status.detail})" if status.detail else ""
            return format_html("<strong>Resolves</strong>{}, from {}.", ending, status.source)
        said = {"missing": "Missing", "unavailable": "Cannot be checked", "refused": "Refused"}[status.state]
        where = f" Looked for in {status.source}." if status.source else ""
        detail = f": {status.detail}" if status.detail else ""
        return format_html("<strong>{}</strong>{}.{}", said, detail, where)


class TenantHostnameInline(admin.TabularInline):
    model = TenantHostname
    extra = 1


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class SpeechSettingsInline(CredentialShown, admin.StackedInline):
    model = SpeechSettings
    can_delete = False
    readonly_fields = ["credential"]
    min_num = 1
    max_num = 1

    def get_fieldsets(self, request, obj=None):
        return speech_settings_fieldsets()

    def get_formset(self, request, obj=None, **kwargs):
        # The form class is made per request: its option fields follow the registry (SPEECH_PROVIDERS).
        formset = super().get_formset(request, obj, **{"form": speech_settings_form(), **kwargs})
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
class SpeechSettingsAdmin(CredentialRefusalShown, CredentialShown, admin.ModelAdmin):
    list_display = ["tenant", "provider", "model", "voice", "turn_detection", "updated_at"]
    list_filter = ["provider", "model", "voice", "turn_detection"]
    list_select_related = ["tenant"]
    search_fields = ["tenant__slug", "tenant__name", "model", "voice"]
    readonly_fields = ["tenant", "credential", "updated_at"]

    def has_add_permission(self, request):
        return False  # settings are created with their tenant

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": ["tenant", "updated_at"]}), *speech_settings_fieldsets()]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The form class is made per request: its option fields follow the registry (SPEECH_PROVIDERS).
        form = super().get_form(request, obj, change, **{"form": speech_settings_form(), **kwargs})
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
