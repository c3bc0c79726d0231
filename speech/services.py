import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

from django.utils.http import urlencode

from settings_admin.models import WebRTCMode
from settings_admin.secrets import SecretsAuthError, SecretsError, credential_get

from . import errors, metrics
from .after_response import after_response
from .audit import audit_record
from .models import Outcome
from .providers.base import ProviderSession, SessionConfig
from .upstream import upstream_slot

logger = logging.getLogger("speech.session")


@dataclass(frozen=True)
class Actor:
    """Who asks: a logged-in user, an integrator's API key, or an anonymous visitor; and from where."""

    user: object = None
    api_key: object = None
    client_ip: str | None = None

    def __str__(self):
        if self.api_key is not None:
            return f"api_key:{self.api_key.prefix}"
        return f"user:{self.user.pk}" if self.user is not None else "anonymous"


@dataclass(frozen=True)
class SessionRequest:
    """What the browser asked for; each value is checked against the tenant's settings."""

    model: str | None = None
    voice: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True)
class SessionPayload:
    provider: str
    model: str
    voice: str
    minted: ProviderSession


def preferred_model_and_voice(*, speech_settings, preference):
    """The user's preferred model and voice while the tenant allows them, else the tenant's defaults."""
    model, voice = getattr(preference, "model", ""), getattr(preference, "voice", "")
    return (
        model if model in speech_settings.effective_allowed_models else speech_settings.model,
        voice if voice in speech_settings.effective_allowed_voices else speech_settings.voice,
    )


def session_config_resolve(*, speech_settings, requested, preference=None):
    """Apply the tenant's rules to the request: the client never picks where the server key goes.

    Model and voice: the request's, else the user's preference while the tenant allows it, else the tenant's.
    """
    endpoint = speech_settings.effective_endpoint
    if requested.endpoint and requested.endpoint.rstrip("/") != endpoint.rstrip("/"):
        raise errors.EndpointNotAllowed()
    preferred_model, preferred_voice = preferred_model_and_voice(speech_settings=speech_settings, preference=preference)
    model = requested.model or preferred_model
    if model not in speech_settings.effective_allowed_models:
        raise errors.ModelNotAllowed(f"Model {model!r} is not allowed for this tenant.")
    voice = requested.voice or preferred_voice
    if voice not in speech_settings.effective_allowed_voices:
        raise errors.VoiceNotAllowed(f"Voice {voice!r} is not allowed for this tenant.")
    return SessionConfig(
        model=model,
        voice=voice,
        endpoint=endpoint,
        instructions=speech_settings.instructions,
        turn_detection=speech_settings.turn_detection,
        input_transcription_model=speech_settings.input_transcription_model,
        ttl_seconds=speech_settings.secret_ttl_seconds,
        options=speech_settings.options,
    )


def provider_credential_get(*, speech_settings, provider):
    try:
        credential = credential_get(reference=speech_settings.credential_reference, provider=provider)
    except SecretsAuthError as exc:
        logger.error("secrets backend refused the gateway's credentials: %s", exc)
        raise errors.SecretsAuthFailed() from None
    except SecretsError as exc:
        logger.error("secrets backend unreachable: %s", exc)
        raise errors.SecretsUnavailable() from None
    if not credential:
        raise errors.CredentialsMissing()
    return credential


@contextmanager
def session_attempt(*, speech_settings, actor, requested):
    """Times one attempt and records it once: a log line, the metrics and an audit row, written
    after the response is sent (after_response.py).

    The body sets attempt.model / attempt.voice once resolved, and attempt.upstream_started
    when it starts talking to the provider.
    """
    attempt = SimpleNamespace(
        model=requested.model or speech_settings.model,
        voice=requested.voice or speech_settings.voice,
        upstream_started=None,
    )
    started = time.monotonic()
    error_code = None
    try:
        yield attempt
    except errors.SpeechError as exc:
        error_code = exc.code
        raise
    except Exception:
        error_code = "internal_error"
        raise
    finally:
        finished = time.monotonic()
        after_response(
            attempt_record,
            speech_settings=speech_settings,
            actor=actor,
            model=attempt.model,
            voice=attempt.voice,
            error_code=error_code,
            seconds=finished - started,
            upstream_seconds=finished - attempt.upstream_started if attempt.upstream_started is not None else None,
        )


def attempt_record(*, speech_settings, actor, model, voice, error_code, seconds, upstream_seconds):
    duration_ms = seconds * 1000
    outcome = Outcome.FAILURE if error_code else Outcome.SUCCESS
    metrics.session_observe(
        tenant=speech_settings.tenant.slug,
        provider=speech_settings.provider,
        error_code=error_code,
        seconds=seconds,
        upstream_seconds=upstream_seconds,
    )
    logger.info(
        "realtime_session tenant=%s provider=%s model=%s outcome=%s error_code=%s duration_ms=%.1f actor=%s",
        speech_settings.tenant.slug,
        speech_settings.provider,
        model,
        outcome,
        error_code or "-",
        duration_ms,
        actor,
        extra={
            "tenant": speech_settings.tenant.slug,
            "provider": speech_settings.provider,
            "model": model,
            "outcome": outcome,
            "error_code": error_code,
            "duration_ms": round(duration_ms, 1),
        },
    )
    audit_record(
        tenant_id=speech_settings.tenant_id,
        user_id=getattr(actor.user, "pk", None),
        api_key_id=getattr(actor.api_key, "pk", None),
        provider=speech_settings.provider,
        model=model[:100],
        voice=voice[:64],
        outcome=outcome,
        error_code=error_code or "",
        duration_ms=round(duration_ms, 1),
        client_ip=actor.client_ip,
    )


def _prepare(*, speech_settings, requested, preference, attempt):
    config = session_config_resolve(speech_settings=speech_settings, requested=requested, preference=preference)
    attempt.model, attempt.voice = config.model, config.voice
    provider = speech_settings.get_provider()
    api_key = provider_credential_get(speech_settings=speech_settings, provider=provider)
    attempt.upstream_started = time.monotonic()
    return provider, api_key, config


def realtime_session_create(*, speech_settings, actor, requested, preference=None):
    """Mint an ephemeral provider session for `actor` under the tenant's `speech_settings`."""
    with session_attempt(speech_settings=speech_settings, actor=actor, requested=requested) as attempt:
        provider, api_key, config = _prepare(
            speech_settings=speech_settings, requested=requested, preference=preference, attempt=attempt
        )
        with upstream_slot(tenant_id=speech_settings.tenant_id):
            minted = provider.create_session(api_key=api_key, config=config)
        return SessionPayload(provider=provider.id, model=config.model, voice=config.voice, minted=minted)


def realtime_relay_describe(*, speech_settings, requested, relay_url, preference=None):
    """Unified mode: nothing is minted; the payload points the browser at the gateway's relay."""
    config = session_config_resolve(speech_settings=speech_settings, requested=requested, preference=preference)
    provider = speech_settings.get_provider()
    relay = ProviderSession(
        client_secret=None,
        expires_at=None,
        webrtc_url=f"{relay_url}?{urlencode({'model': config.model, 'voice': config.voice})}",
        data_channel=provider.data_channel,
        session={},
        codecs=provider.codecs,
    )
    return SessionPayload(provider=provider.id, model=config.model, voice=config.voice, minted=relay)


def realtime_call_create(*, speech_settings, actor, requested, offer_sdp, preference=None):
    """The unified interface: relay the browser's offer to the provider with the server key; the
    browser never holds a secret. Returns the provider's ProviderCall."""
    if speech_settings.webrtc_mode != WebRTCMode.UNIFIED:
        raise errors.UnifiedModeOff()
    with session_attempt(speech_settings=speech_settings, actor=actor, requested=requested) as attempt:
        provider, api_key, config = _prepare(
            speech_settings=speech_settings, requested=requested, preference=preference, attempt=attempt
        )
        with upstream_slot(tenant_id=speech_settings.tenant_id):
            return provider.create_call(api_key=api_key, config=config, offer_sdp=offer_sdp)
