import logging
import time
from dataclasses import dataclass

from settings_admin.secrets import SecretsAuthError, SecretsError, credential_get

from . import errors, metrics
from .models import Outcome, SessionAudit
from .providers.base import ProviderSession, SessionConfig

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


def _preferred(value, allowed):
    # A preference the tenant no longer allows falls back to the tenant's default, silently.
    return value if value and value in allowed else None


def session_config_resolve(*, speech_settings, requested, preference=None):
    """Apply the tenant's rules to the request: the client never picks where the server key goes.

    Model and voice: the request's, else the user's preference while the tenant allows it, else the tenant's.
    """
    endpoint = speech_settings.effective_endpoint
    if requested.endpoint and requested.endpoint.rstrip("/") != endpoint.rstrip("/"):
        raise errors.EndpointNotAllowed()
    allowed_models, allowed_voices = speech_settings.effective_allowed_models, speech_settings.effective_allowed_voices
    model = requested.model or _preferred(getattr(preference, "model", None), allowed_models) or speech_settings.model
    if model not in allowed_models:
        raise errors.ModelNotAllowed(f"Model {model!r} is not allowed for this tenant.")
    voice = requested.voice or _preferred(getattr(preference, "voice", None), allowed_voices) or speech_settings.voice
    if voice not in allowed_voices:
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


def realtime_session_create(*, speech_settings, actor, requested, preference=None):
    """Mint an ephemeral provider session for `actor` under the tenant's `speech_settings`."""
    started = time.monotonic()
    model = requested.model or speech_settings.model
    voice = requested.voice or speech_settings.voice
    error_code = upstream_started = upstream_seconds = None
    try:
        config = session_config_resolve(speech_settings=speech_settings, requested=requested, preference=preference)
        model, voice = config.model, config.voice
        provider = speech_settings.get_provider()
        api_key = provider_credential_get(speech_settings=speech_settings, provider=provider)
        upstream_started = time.monotonic()
        minted = provider.create_session(api_key=api_key, config=config)
        return SessionPayload(provider=provider.id, model=config.model, voice=config.voice, minted=minted)
    except errors.SpeechError as exc:
        error_code = exc.code
        raise
    except Exception:
        error_code = "internal_error"
        raise
    finally:
        finished = time.monotonic()
        duration_ms = (finished - started) * 1000
        if upstream_started is not None:
            upstream_seconds = finished - upstream_started
        outcome = Outcome.FAILURE if error_code else Outcome.SUCCESS
        metrics.session_observe(
            tenant=speech_settings.tenant.slug,
            provider=speech_settings.provider,
            error_code=error_code,
            seconds=duration_ms / 1000,
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
        SessionAudit.objects.create(
            tenant_id=speech_settings.tenant_id,
            user=actor.user,
            api_key=actor.api_key,
            provider=speech_settings.provider,
            model=model,
            voice=voice,
            outcome=outcome,
            error_code=error_code or "",
            duration_ms=round(duration_ms, 1),
            client_ip=actor.client_ip,
        )
