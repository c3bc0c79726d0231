from django.core.exceptions import ValidationError
from django.db import transaction

from .models import SettingsChange, TurnMode, UserPreference
from .registry import ProviderNotFound, registry
from .secrets import credential_delete, credential_set


def provider_defaults_adopt(*, speech_settings, changes):
    """A change of provider brings the new provider's defaults for what `changes` does not set."""
    if "provider" not in changes or changes["provider"] == speech_settings.provider:
        return changes
    try:
        provider = registry.get(changes["provider"])
    except ProviderNotFound:
        return changes  # full_clean names it
    defaults = {"model": provider.default_model, "voice": provider.default_voice, "endpoint": "",
                "allowed_models": [], "allowed_voices": [], "options": {}}  # fmt: skip
    return {**defaults, **changes}


@transaction.atomic
def speech_settings_update(
    *, speech_settings, changes, user=None, api_key=None, credential=None, remove_credential=False
):
    """Apply `changes`, validated as the admin validates them (SpeechSettings.full_clean), and record who did it.

    Django admin, the REST API and the `speech_settings` command all change settings here. `speech_settings`
    is the caller's own instance (selectors.speech_settings_for_change, or a new one), never a cached one:
    those are shared by the process's threads. A new provider brings its defaults for what `changes` does
    not set. Raises django.core.exceptions.ValidationError and leaves the row unchanged when the changes do
    not fit.

    `credential` (a provider key) or `remove_credential` changes the key in the secrets store at the saved
    settings' reference, last: a store that refuses raises SecretsError, and the row and its record roll
    back with the transaction. The record notes that the key changed, never the key.
    """
    changes = provider_defaults_adopt(speech_settings=speech_settings, changes=changes)
    before = {field: getattr(speech_settings, field) for field in changes}
    for field, value in changes.items():
        setattr(speech_settings, field, value)
    speech_settings.full_clean()
    speech_settings.save()
    changed = {field: [before[field], value] for field, value in changes.items() if before[field] != value}
    if credential or remove_credential:
        changed["api_key"] = "stored" if credential else "removed"
    if changed:
        SettingsChange.objects.create(
            tenant_id=speech_settings.tenant_id,
            user=user if user is not None and user.is_authenticated else None,
            api_key_prefix=getattr(api_key, "prefix", ""),
            changes=changed,
        )
    if credential or remove_credential:
        reference, provider = speech_settings.credential_reference, speech_settings.get_provider()
        if credential:
            credential_set(reference=reference, provider=provider, value=credential)
        else:
            credential_delete(reference=reference, provider=provider)
    return speech_settings


def user_preference_set(*, user, speech_settings, choice):
    """Save what `user` picked for their next sessions in the tenant of `speech_settings`.

    `choice` holds any of voice, model (blank: the tenant's) and turn_mode. Raises
    django.core.exceptions.ValidationError with field errors, and saves nothing, for a voice or model
    the tenant does not allow or an unknown turn mode. Mint time decides again
    (speech.services.session_choices_resolve): a choice the tenant later forbids falls back to its default.
    """
    errors = {}
    if choice.get("voice") and choice["voice"] not in speech_settings.effective_allowed_voices:
        errors["voice"] = ["This voice is not allowed for this tenant."]
    if choice.get("model") and choice["model"] not in speech_settings.effective_allowed_models:
        errors["model"] = ["This model is not allowed for this tenant."]
    if "turn_mode" in choice and choice["turn_mode"] not in TurnMode.values:
        errors["turn_mode"] = [f"Choose one of: {', '.join(TurnMode.values)}."]
    if errors:
        raise ValidationError(errors)
    preference, _ = UserPreference.objects.update_or_create(
        user=user, tenant_id=speech_settings.tenant_id, defaults=choice
    )
    return preference
