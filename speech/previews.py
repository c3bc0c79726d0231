"""Voice previews: a short sample in a voice, from the provider a tenant's admin is choosing.

The sample comes from the provider's own text-to-speech with the tenant's own credential (the local
provider's service speaks it with espeak-ng), under the same endpoint rules, deadline and per-tenant slots
as minting, and a size cap of its own (SPEECH_VOICE_PREVIEW_MAX_BYTES: audio is larger than a mint answer).
Samples are kept in a cache of their own (config/settings.py "voice_previews": in-process, a bounded number
of entries), keyed by
where the request goes and what it asks for, never by who asks: the same request gives the same audio.
"""

import hashlib
import json
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import caches

from settings_admin.registry import ProviderNotFound, registry
from settings_admin.selectors import frozen
from settings_admin.services import provider_defaults_adopt

from . import errors
from .providers.base import SessionConfig
from .services import endpoint_checked, provider_credential_get
from .upstream import upstream_slot

PREVIEW_TEXT = "Hello! I am {voice}, and this is how I sound."


@dataclass(frozen=True)
class VoicePreview:
    audio: bytes
    cached: bool
    content_type: str = "audio/wav"


def preview_settings(*, speech_settings, provider_id=None):
    """The settings a preview runs under: the saved ones, or, for another provider that a form is switching to,
    the ones a save would make (that provider's default endpoint, no options; services.provider_defaults_adopt).
    Never the saved credential's name: the key kept under it is the saved provider's, and must not go to another
    provider; the other provider's key is looked up where its own would be kept."""
    if not provider_id or provider_id == speech_settings.provider:
        return speech_settings
    try:
        registry.get(provider_id)
    except ProviderNotFound:
        raise errors.PreviewUnavailable(f"Unknown provider {provider_id!r}.") from None
    changes = provider_defaults_adopt(speech_settings=speech_settings, changes={"provider": provider_id})
    return replace(speech_settings, **{field: frozen(value) for field, value in changes.items()}, credential_ref="")


def _cache_key(url, body):
    digest = hashlib.sha256(json.dumps([url, body], sort_keys=True).encode()).hexdigest()
    return f"speech:voice-preview:{digest}"


def voice_preview_create(*, speech_settings, voice, provider_id=None):
    """A sample of `voice` from the provider (the saved one, or `provider_id`), as a VoicePreview.

    Raises PreviewUnavailable when the provider cannot speak samples (or has no endpoint yet),
    EndpointNotAllowed for an endpoint off the allowed hosts, the credential errors of minting, and the
    provider's errors."""
    speech_settings = preview_settings(speech_settings=speech_settings, provider_id=provider_id)
    provider = speech_settings.get_provider()
    if problem := provider.voice_problem(voice):
        raise errors.VoiceNotAllowed(problem)
    endpoint = speech_settings.effective_endpoint
    if not endpoint:
        raise errors.PreviewUnavailable(f"{provider.name} needs the tenant's endpoint: save it first.")
    endpoint_checked(speech_settings=speech_settings)  # as at mint time: the key goes only where the operator allows
    options = dict(speech_settings.options)
    config = SessionConfig(model=speech_settings.model, voice=voice, endpoint=endpoint, options=options)
    text = PREVIEW_TEXT.format(voice=voice)
    # Before the credential: a provider that cannot preview says so, whatever the key.
    key = _cache_key(*provider.speech_request(config=config, text=text))
    api_key = provider_credential_get(speech_settings=speech_settings)
    cache = caches[settings.SPEECH_VOICE_PREVIEW_CACHE]
    if (audio := cache.get(key)) is not None:
        return VoicePreview(audio=audio, cached=True)
    with upstream_slot(tenant_id=speech_settings.tenant_id):
        audio = provider.create_speech(
            api_key=api_key, config=config, text=text, max_bytes=settings.SPEECH_VOICE_PREVIEW_MAX_BYTES
        )
    cache.set(key, audio, settings.SPEECH_VOICE_PREVIEW_CACHE_SECONDS)
    return VoicePreview(audio=audio, cached=False)
