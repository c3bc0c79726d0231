import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

from django.utils.http import urlencode

from settings_admin.models import TurnDetection, TurnMode, WebRTCMode
from settings_admin.secrets import SecretsAuthError, SecretsError, tenant_credential_get

from . import errors
from .audit import audit_record
from .models import Outcome
from .ops import metrics
from .ops.after_response import after_response
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
    turn_mode: str  # TurnMode: what the chat page offers (push-to-talk when turn detection is off)


@dataclass(frozen=True)
class SessionChoices:
    model: str
    voice: str
    turn_mode: str  # TurnMode: voice_activity | push_to_talk


def session_choices_resolve(*, speech_settings, preference, requested=None):
    """The one place that decides a session's model, voice and turn mode.

    Model and voice: the request's, else the user's preference while the tenant allows it, else the
    tenant's. Turn mode: push-to-talk when the tenant turns voice activity detection off or the user
    prefers it, else voice activity. Raises ModelNotAllowed / VoiceNotAllowed for a request outside
    what the tenant allows.
    """
    requested = requested or SessionRequest()
    preferred_model, preferred_voice = getattr(preference, "model", ""), getattr(preference, "voice", "")
    allowed_models, allowed_voices = speech_settings.effective_allowed_models, speech_settings.effective_allowed_voices
    model = requested.model or (preferred_model if preferred_model in allowed_models else speech_settings.model)
    if model not in allowed_models:
        raise errors.ModelNotAllowed(f"Model {model!r} is not allowed for this tenant.")
    voice = requested.voice or (preferred_voice if preferred_voice in allowed_voices else speech_settings.voice)
    if voice not in allowed_voices:
        raise errors.VoiceNotAllowed(f"Voice {voice!r} is not allowed for this tenant.")
    push_to_talk = (
        speech_settings.turn_detection == TurnDetection.NONE
        or getattr(preference, "turn_mode", None) == TurnMode.PUSH_TO_TALK
    )
    return SessionChoices(model, voice, TurnMode.PUSH_TO_TALK if push_to_talk else TurnMode.VOICE_ACTIVITY)


def session_config_resolve(*, speech_settings, requested, preference=None):
    """Apply the tenant's rules to the request: the client never picks where the server key goes."""
    endpoint = speech_settings.effective_endpoint
    if requested.endpoint and requested.endpoint.rstrip("/") != endpoint.rstrip("/"):
        raise errors.EndpointNotAllowed()
    # Checked again at mint time: a row saved before an allow-list shrank must not send the key either.
    if speech_settings.get_provider().endpoint_problem(endpoint, speech_settings.options):
        raise errors.EndpointNotAllowed("The tenant's endpoint is not on a host the operator allows.")
    choices = session_choices_resolve(speech_settings=speech_settings, preference=preference, requested=requested)
    return SessionConfig(
        model=choices.model,
        voice=choices.voice,
        endpoint=endpoint,
        instructions=speech_settings.instructions,
        turn_detection=(
            TurnDetection.NONE if choices.turn_mode == TurnMode.PUSH_TO_TALK else speech_settings.turn_detection
        ),
        input_transcription_model=speech_settings.input_transcription_model,
        ttl_seconds=speech_settings.secret_ttl_seconds,
        options=speech_settings.options,
    )


def session_payload(*, provider, config, minted):
    turn_mode = TurnMode.PUSH_TO_TALK if config.turn_detection == TurnDetection.NONE else TurnMode.VOICE_ACTIVITY
    return SessionPayload(
        provider=provider.id, model=config.model, voice=config.voice, minted=minted, turn_mode=turn_mode
    )


def provider_credential_get(*, speech_settings):
    try:
        credential = tenant_credential_get(speech_settings=speech_settings)
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
    api_key = provider_credential_get(speech_settings=speech_settings)
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
        return session_payload(provider=provider, config=config, minted=minted)


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
    return session_payload(provider=provider, config=config, minted=relay)


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
