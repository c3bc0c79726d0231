"""Call use cases: recorded at mint, attached once its provider call id is known, fed by the supervisor
(transcript, usage), ended once. Every write is idempotent: the supervisor delivers at least once."""

import logging
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from settings_admin.registry import ProviderNotFound, registry

from .. import errors
from ..ops.after_response import after_response
from .models import Call, CallPolicy, CallStatus, ResponseUsage, ToolRun, TranscriptLine
from .policy import DEFAULT_RETENTION_DAYS, call_policy_get
from .selectors import month_spent
from .usage import usage_cost

logger = logging.getLogger("speech.calls")

CALL_REF_SALT = "speech.calls.ref"


@dataclass(frozen=True)
class CallRef:
    """What a signed session reference binds: this call, of this tenant, minted for this actor."""

    call_id: str
    tenant_id: int
    actor: str  # str(Actor): "user:<pk>", "api_key:<prefix>" or "anonymous"


def call_ref_sign(*, ref):
    return signing.dumps([ref.call_id, ref.tenant_id, ref.actor], salt=CALL_REF_SALT, compress=False)


def call_ref_read(*, value, max_age):
    """The CallRef in a signed reference, or None when it is forged, altered or older than `max_age` seconds."""
    try:
        call_id, tenant_id, actor = signing.loads(value, salt=CALL_REF_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return CallRef(call_id=str(call_id), tenant_id=int(tenant_id), actor=str(actor))


def call_transcript_append(*, call_id, key, speaker, text, said_at):
    """Record one line once: the same `key` again (a re-joined supervisor) writes nothing. Returns whether written."""
    try:
        with transaction.atomic():
            TranscriptLine.objects.create(call_id=call_id, key=key[:160], speaker=speaker, text=text, said_at=said_at)
    except IntegrityError:
        return False
    return True


def call_usage_record(*, call_id, model, response_id, usage, done_at):
    """Add one `response.done`'s usage (a TokenUsage) to the call, once per response id. Returns whether counted."""
    cost = usage_cost(model=model, usage=usage)
    try:
        with transaction.atomic():
            ResponseUsage.objects.create(
                call_id=call_id, response_id=response_id[:128], done_at=done_at, cost=cost, **usage.as_dict()
            )
            Call.objects.filter(pk=call_id).update(
                cost=F("cost") + cost, **{name: F(name) + count for name, count in usage.as_dict().items()}
            )
    except IntegrityError:
        return False
    return True


def call_end(*, call_id, reason, at=None):
    """End the call once; a later end (another supervisor, a late hang-up) changes nothing. Returns whether ended."""
    ended = (
        Call.objects.filter(pk=call_id)
        .exclude(status=CallStatus.ENDED)
        .update(status=CallStatus.ENDED, ended_at=at or timezone.now(), end_reason=reason)
    )
    return bool(ended)


# --- minting ------------------------------------------------------------------------------------------------

# A reference stays good for the secret's lifetime plus this: a call opened at the last second reports late.
CALL_REF_MARGIN_SECONDS = 60


def call_id_valid(*, provider, call_id):
    """Whether `call_id` is one of `provider`'s (its call_id_format): anything else is refused before it reaches a
    query or a URL."""
    try:
        return registry.get(provider).call_id_problem(call_id) is None
    except ProviderNotFound:
        return False


@dataclass(frozen=True)
class CallDraft:
    """A call as minting knows it, before its row is written (after the answer is sent)."""

    id: str
    tenant_id: int
    user_id: int | None
    api_key_id: int | None
    client_ip: str | None
    provider: str
    model: str
    voice: str
    webrtc_mode: str
    records_transcript: bool
    minted_at: object  # an aware datetime
    provider_session_id: str = ""
    provider_call_id: str = ""


@dataclass(frozen=True)
class CallLimits:
    max_call_seconds: int | None
    idle_seconds: int | None


@dataclass(frozen=True)
class CallTicket:
    """What the mint answer tells the browser of its call: the id, the signed reference, the limits."""

    id: str
    ref: str
    report_url: str | None
    limits: CallLimits


def call_id_new():
    return str(uuid.uuid4())


def call_ticket(*, call_id, tenant_id, actor, policy, report_url):
    ref = call_ref_sign(ref=CallRef(call_id=call_id, tenant_id=tenant_id, actor=actor))
    limits = CallLimits(max_call_seconds=policy.max_call_seconds, idle_seconds=policy.idle_seconds)
    return CallTicket(id=call_id, ref=ref, report_url=report_url, limits=limits)


def call_fields(*, draft):
    """The row of a minted call that no provider call id is known of yet (direct mode): written with the mint's
    audit row (audit.audit_record), in its transaction or by its background writer."""
    return {
        "id": draft.id, "tenant_id": draft.tenant_id, "user_id": draft.user_id, "api_key_id": draft.api_key_id,
        "client_ip": draft.client_ip, "provider": draft.provider, "model": draft.model[:100],
        "voice": draft.voice[:64], "webrtc_mode": draft.webrtc_mode, "minted_at": draft.minted_at,
        "records_transcript": draft.records_transcript, "provider_session_id": draft.provider_session_id[:128],
    }  # fmt: skip


def call_record(*, draft):
    """Write the row of a call whose provider call id is known (the unified relay, after its answer): the call
    is active at once and handed to the supervisor. Returns the call's id, or None when not written."""
    call_id = draft.provider_call_id
    if call_id and not call_id_valid(provider=draft.provider, call_id=call_id):
        logger.warning("provider=%s answered a malformed call id; the call is not supervised", draft.provider)
        draft = replace(draft, provider_call_id="")
    fields = call_fields(draft=draft)
    if draft.provider_call_id:
        fields.update(provider_call_id=draft.provider_call_id, status=CallStatus.ACTIVE, connected_at=timezone.now())
    try:
        with transaction.atomic():
            Call.objects.create(**fields)
    except IntegrityError:
        if not draft.provider_call_id or Call.objects.filter(pk=draft.id).exists():
            # A relay reference used twice: its call is recorded already, the second is not.
            logger.error("call %s could not be recorded: its id is taken", draft.id)
            return None
        # The provider named a call id another record holds: never let this call act on that one.
        logger.error("provider=%s answered call id already recorded; call %s is not supervised", draft.provider,
                     draft.id)  # fmt: skip
        return call_record(draft=replace(draft, provider_call_id=""))
    if draft.provider_call_id:
        transaction.on_commit(lambda: _supervise(draft.id))
    return draft.id


def _supervise(call_id):
    from ..supervisor.dispatch import attach_submit  # the supervisor's side; never raises

    attach_submit(call_id=str(call_id))


# --- learning the call id in direct mode ---------------------------------------------------------------------


def call_ref_bound(*, value, tenant_id, actor, max_age):
    """The CallRef of a signed reference given to this tenant's `actor`; raises CallRefInvalid (forged, altered,
    too old) or CallRefForbidden (another tenant's or another caller's)."""
    read = call_ref_read(value=value, max_age=max_age) if isinstance(value, str) else None
    if read is None:
        raise errors.CallRefInvalid()
    if read.tenant_id != tenant_id or read.actor != actor:
        raise errors.CallRefForbidden()
    return read


def call_ref_unopened(*, value, tenant_id, actor, max_age):
    """The call id of a relay's reference (call_ref_bound's checks), once: a reference opens one call."""
    call_id = call_ref_bound(value=value, tenant_id=tenant_id, actor=actor, max_age=max_age).call_id
    if Call.objects.filter(pk=call_id).exists():
        raise errors.CallAlreadyReported("This call reference has opened its call already.")
    return call_id


def call_report(*, tenant_id, actor, ref, provider_call_id, max_age):
    """The browser reports the provider's call id of a call it was minted. Accepted only with a reference this
    gateway signed for this tenant and this actor, not older than `max_age` seconds, a call id of the provider's
    format, and only once. Returns the call's id."""
    read = call_ref_bound(value=ref, tenant_id=tenant_id, actor=actor, max_age=max_age)
    call = Call.objects.filter(pk=read.call_id, tenant_id=tenant_id).only("pk", "provider").first()
    if call is None:
        raise errors.CallNotFound()
    if not call_id_valid(provider=call.provider, call_id=provider_call_id):
        raise errors.CallIdInvalid()
    call_attach(call_id=call.pk, provider_call_id=provider_call_id)
    return str(call.pk)


def call_attach(*, call_id, provider_call_id):
    """Set the provider's call id once (a conditional update: a second report, or one for a call id another
    call holds, of any tenant, changes nothing); the call is active from now and, once committed, supervised."""
    try:
        with transaction.atomic():
            attached = Call.objects.filter(pk=call_id, provider_call_id="", status=CallStatus.MINTED).update(
                provider_call_id=provider_call_id, status=CallStatus.ACTIVE, connected_at=timezone.now()
            )
    except IntegrityError:
        attached = 0
    if not attached:
        raise errors.CallAlreadyReported()
    transaction.on_commit(lambda: _supervise(call_id))


# --- budgets --------------------------------------------------------------------------------------------------

_gate_lock = threading.Lock()
_gates = {}  # tenant id -> _Gate


@dataclass
class _Gate:
    read_at: float  # time.monotonic()
    policy: object  # CallPolicyView
    spent: object  # Decimal, or None without a budget
    refreshing: bool = False


def _gate_read(tenant_id):
    policy = call_policy_get(tenant_id=tenant_id)
    spent = None
    if policy.monthly_budget is not None:
        spent = month_spent(tenant_id=tenant_id, unit=policy.budget_unit, now=timezone.now())
    gate = _Gate(read_at=time.monotonic(), policy=policy, spent=spent)
    with _gate_lock:
        _gates[tenant_id] = gate
    return gate


def _gate_refresh(*, tenant_id, gate):
    try:
        _gate_read(tenant_id)
    finally:
        gate.refreshing = False  # a failed read (database down) is tried again at a later mint


def call_gate(*, tenant_id):
    """The tenant's call policy, once its monthly budget is checked: raises BudgetExceeded when spent.

    On the mint path, so each process reads the policy and the month's spending (one aggregate query) for a
    tenant's first mint only; after SPEECH_CALL_GATE_SECONDS a mint still uses what was read and re-reads it
    once its answer is sent. A saved policy is read afresh (signals.py). A budget is so overrun by at most
    what calls minted meanwhile use.
    """
    with _gate_lock:
        gate = _gates.get(tenant_id)
        stale = (
            gate is not None
            and not gate.refreshing
            and (time.monotonic() - gate.read_at >= settings.SPEECH_CALL_GATE_SECONDS)
        )
        if stale:
            gate.refreshing = True
    if gate is None:
        gate = _gate_read(tenant_id)
    elif stale:
        after_response(_gate_refresh, tenant_id=tenant_id, gate=gate)
    if gate.spent is not None and gate.spent >= gate.policy.monthly_budget:
        raise errors.BudgetExceeded()
    return gate.policy


def call_gate_forget(tenant_id=None):
    """Forget the cached gates (a tenant's, or all): a changed policy applies at this process's next mint."""
    with _gate_lock:
        if tenant_id is None:
            _gates.clear()
        else:
            _gates.pop(tenant_id, None)


# --- retention ----------------------------------------------------------------------------------------------


def transcripts_prune(*, now=None):
    """Delete transcript lines older than their tenant's retention; one delete per retention period in use.
    Returns how many lines were deleted."""
    now = now or timezone.now()
    policies = CallPolicy.objects.values_list("tenant_id", "transcript_retention_days")
    by_days = {}
    for tenant_id, days in policies:
        by_days.setdefault(days, []).append(tenant_id)
    deleted = 0
    for days, tenant_ids in by_days.items():
        cutoff = now - timedelta(days=days)
        count, _ = TranscriptLine.objects.filter(call__tenant_id__in=tenant_ids, said_at__lt=cutoff).delete()
        deleted += count
    # Tenants without a policy keep the default retention.
    cutoff = now - timedelta(days=DEFAULT_RETENTION_DAYS)
    count, _ = (
        TranscriptLine.objects.filter(said_at__lt=cutoff)
        .exclude(call__tenant_id__in=[tenant_id for tenant_id, _ in policies])
        .delete()
    )
    return deleted + count


def tool_run_record(*, call_id, **fields):
    """One tool run of the call, once (a run per provider call id, a forged output per item id: a re-joined
    supervisor that sees it again writes nothing). Returns whether written."""
    try:
        with transaction.atomic():
            ToolRun.objects.create(call_id=call_id, **fields)
    except IntegrityError:
        return False
    return True
