from django.db import transaction

from .models import SettingsChange
from .registry import ProviderNotFound, registry


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
def speech_settings_update(*, speech_settings, changes, user=None, api_key=None):
    """Apply `changes`, validated as the admin validates them (SpeechSettings.full_clean), and record who did it.

    `speech_settings` is the caller's own instance (selectors.speech_settings_for_change), never a cached
    one: those are shared by the process's threads. Raises django.core.exceptions.ValidationError and
    leaves the row unchanged when the changes do not fit.
    """
    changes = provider_defaults_adopt(speech_settings=speech_settings, changes=changes)
    before = {field: getattr(speech_settings, field) for field in changes}
    for field, value in changes.items():
        setattr(speech_settings, field, value)
    speech_settings.full_clean()
    speech_settings.save()
    changed = {field: [before[field], value] for field, value in changes.items() if before[field] != value}
    if changed:
        SettingsChange.objects.create(
            tenant_id=speech_settings.tenant_id,
            user=user if user is not None and user.is_authenticated else None,
            api_key_prefix=getattr(api_key, "prefix", ""),
            changes=changed,
        )
    return speech_settings
