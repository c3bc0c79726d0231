import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import SimpleNamespace

from django.utils import timezone
from django.utils.http import urlencode

from settings_admin.models import TurnDetection, TurnMode, WebRTCMode
from settings_admin.secrets import SecretsAuthError, SecretsError, tenant_credential_get

from . import errors
from .audit import audit_record
from .calls.services import (
    CALL_REF_MARGIN_SECONDS,
    CallDraft,
    call_fields,
    call_gate,
    call_id_new,
    call_record,
    call_ref_unopened,
    call_ticket,
)
from .models import Outcome
from .ops import metrics
from .ops.after_response import after_response
from .providers.base import ProviderCall, ProviderSession, SessionConfig
from .tools.minting import session_redact, session_tools
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
    call: object = None  # calls.services.CallTicket: the call's id, signed reference and limits


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


def endpoint_checked(*, speech_settings):
    """The tenant's endpoint, checked where the key is about to go (a mint, a voice sample, a sideband): a row
    saved before an allow-list shrank must not send the key either. Raises EndpointNotAllowed."""
    endpoint = speech_settings.effective_endpoint
    if speech_settings.get_provider().endpoint_problem(endpoint, speech_settings.options):
        raise errors.EndpointNotAllowed("The tenant's endpoint is not on a host the operator allows.")
    return endpoint


def session_config_resolve(*, speech_settings, requested, preference=None):
    """Apply the tenant's rules to the request: the client never picks where the server key goes."""
    endpoint = speech_settings.effective_endpoint
    if requested.endpoint and requested.endpoint.rstrip("/") != endpoint.rstrip("/"):
        raise errors.EndpointNotAllowed()
    endpoint_checked(speech_settings=speech_settings)
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
        tools=session_tools(tenant_id=speech_settings.tenant_id),
    )


def session_payload(*, provider, config, minted, call=None):
    turn_mode = TurnMode.PUSH_TO_TALK if config.turn_detection == TurnDetection.NONE else TurnMode.VOICE_ACTIVITY
    minted = replace(minted, session=session_redact(minted.session))  # the browser sees no tool credential
    return SessionPayload(
        provider=provider.id, model=config.model, voice=config.voice, minted=minted, turn_mode=turn_mode, call=call
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
        call=None,  # a CallDraft once minted: its row is written with the audit row
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
            call=attempt.call if error_code is None else None,
        )


def attempt_record(*, speech_settings, actor, model, voice, error_code, seconds, upstream_seconds, call=None):
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
    # A relayed call (its provider call id known) is written and supervised at once; a minted one's row goes
    # with the audit row.
    relayed = call is not None and call.provider_call_id
    audit_record(
        **({"call_id": call_record(draft=call)} if relayed else {"call": call_fields(draft=call) if call else None}),
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
    policy = call_gate(tenant_id=speech_settings.tenant_id)  # raises BudgetExceeded
    provider = speech_settings.get_provider()
    api_key = provider_credential_get(speech_settings=speech_settings)
    attempt.upstream_started = time.monotonic()
    return provider, api_key, config, policy


def call_ref_max_age(speech_settings):
    """How long a call's signed reference is good: the secret's lifetime, and a margin for a late report."""
    return speech_settings.secret_ttl_seconds + CALL_REF_MARGIN_SECONDS


def _call_draft(*, call_id, speech_settings, actor, provider, config, policy, **known):
    return CallDraft(
        id=call_id,
        tenant_id=speech_settings.tenant_id,
        user_id=getattr(actor.user, "pk", None),
        api_key_id=getattr(actor.api_key, "pk", None),
        client_ip=actor.client_ip,
        provider=provider.id,
        model=config.model,
        voice=config.voice,
        webrtc_mode=speech_settings.webrtc_mode,
        records_transcript=policy.record_transcripts,
        minted_at=timezone.now(),
        **known,
    )


def realtime_session_create(*, speech_settings, actor, requested, preference=None, report_url=None):
    """Mint an ephemeral provider session for `actor` under the tenant's `speech_settings`. The answer names the
    call (its id, a signed reference to report the provider's call id to `report_url` with, its limits); the
    call's row is written once the answer is sent."""
    with session_attempt(speech_settings=speech_settings, actor=actor, requested=requested) as attempt:
        provider, api_key, config, policy = _prepare(
            speech_settings=speech_settings, requested=requested, preference=preference, attempt=attempt
        )
        with upstream_slot(tenant_id=speech_settings.tenant_id):
            minted = provider.create_session(api_key=api_key, config=config)
        call_id = call_id_new()
        session_id = minted.session.get("id")
        attempt.call = _call_draft(
            call_id=call_id, speech_settings=speech_settings, actor=actor, provider=provider, config=config,
            policy=policy, provider_session_id=session_id if isinstance(session_id, str) else "",
        )  # fmt: skip
        ticket = call_ticket(
            call_id=call_id, tenant_id=speech_settings.tenant_id, actor=str(actor), policy=policy,
            report_url=report_url,
        )  # fmt: skip
        return session_payload(provider=provider, config=config, minted=minted, call=ticket)


def realtime_relay_describe(*, speech_settings, actor, requested, relay_url, preference=None):
    """Unified mode: nothing is minted; the payload points the browser at the gateway's relay, with the signed
    reference of the call the relay will open (the relay learns its provider call id itself)."""
    config = session_config_resolve(speech_settings=speech_settings, requested=requested, preference=preference)
    policy = call_gate(tenant_id=speech_settings.tenant_id)
    provider = speech_settings.get_provider()
    ticket = call_ticket(
        call_id=call_id_new(), tenant_id=speech_settings.tenant_id, actor=str(actor), policy=policy, report_url=None
    )
    query = urlencode({"model": config.model, "voice": config.voice, "call": ticket.ref})
    relay = ProviderSession(
        client_secret=None,
        expires_at=None,
        webrtc_url=f"{relay_url}?{query}",
        data_channel=provider.data_channel,
        session={},
        codecs=provider.codecs,
    )
    return session_payload(provider=provider, config=config, minted=relay, call=ticket)


@dataclass(frozen=True)
class RelayedCall:
    """The unified relay's result: the provider's answer and call id, and the gateway's call id."""

    provider_call: ProviderCall
    call_id: str


def realtime_call_create(*, speech_settings, actor, requested, offer_sdp, preference=None, call_ref=None):
    """The unified interface: relay the browser's offer to the provider with the server key; the
    browser never holds a secret. `call_ref`, from realtime_relay_describe, names the call to open (else a new
    one). The provider's Location names its call id: the call is recorded active and supervised at once."""
    if speech_settings.webrtc_mode != WebRTCMode.UNIFIED:
        raise errors.UnifiedModeOff()
    with session_attempt(speech_settings=speech_settings, actor=actor, requested=requested) as attempt:
        call_id = call_id_new()
        if call_ref is not None:
            call_id = call_ref_unopened(
                value=call_ref, tenant_id=speech_settings.tenant_id, actor=str(actor),
                max_age=call_ref_max_age(speech_settings),
            )  # fmt: skip
        provider, api_key, config, policy = _prepare(
            speech_settings=speech_settings, requested=requested, preference=preference, attempt=attempt
        )
        with upstream_slot(tenant_id=speech_settings.tenant_id):
            provider_call = provider.create_call(api_key=api_key, config=config, offer_sdp=offer_sdp)
        attempt.call = _call_draft(
            call_id=call_id, speech_settings=speech_settings, actor=actor, provider=provider, config=config,
            policy=policy, provider_call_id=provider_call.call_id,
        )  # fmt: skip
        return RelayedCall(provider_call=provider_call, call_id=call_id)
