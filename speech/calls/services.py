"""Call use cases: recorded at mint, attached once its provider call id is known, fed by the supervisor
(transcript, usage), ended once. Every write is idempotent: the supervisor delivers at least once."""

import logging
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Call, CallStatus, ResponseUsage, TranscriptLine
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
