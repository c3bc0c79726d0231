"""The call record's writes are idempotent: the supervisor delivers events at least once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from settings_admin.models import Tenant
from speech.calls.models import Call, CallPolicy, CallStatus, EndReason
from speech.calls.services import (
    CallRef,
    call_end,
    call_ref_read,
    call_ref_sign,
    call_transcript_append,
    call_usage_record,
)
from speech.calls.usage import TokenUsage, usage_cost

pytestmark = pytest.mark.django_db

PRICES = {
    "gpt-realtime": {"input_text": 4, "input_audio": 32, "input_cached": 0.4, "output_text": 16, "output_audio": 64}
}
USAGE = {
    "total_tokens": 1700,
    "input_tokens": 1200,
    "output_tokens": 500,
    "input_token_details": {"text_tokens": 200, "audio_tokens": 1000, "cached_tokens": 100},
    "output_token_details": {"text_tokens": 100, "audio_tokens": 400},
}


@pytest.fixture
def call():
    tenant = Tenant.objects.create(slug="calls", name="Calls")
    return Call.objects.create(
        tenant=tenant, provider="openai", model="gpt-realtime", voice="marin", webrtc_mode="direct",
        minted_at=timezone.now(),
    )  # fmt: skip


def test_usage_is_read_from_response_done_and_malformed_counts_read_as_zero():
    assert TokenUsage.from_response_usage(USAGE) == TokenUsage(200, 1000, 100, 100, 400)
    hostile = {"input_token_details": {"text_tokens": -5, "audio_tokens": 1.5, "cached_tokens": True}, "x": 1}
    assert TokenUsage.from_response_usage(hostile) == TokenUsage()
    assert TokenUsage.from_response_usage("nonsense") == TokenUsage()


@override_settings(SPEECH_MODEL_PRICES=PRICES)
def test_cost_bills_cached_input_at_the_cached_price_and_dated_models_as_their_model():
    usage = TokenUsage.from_response_usage(USAGE)
    expected = (Decimal(100 * 4 + 1000 * 32) + Decimal("100") * Decimal("0.4") + 100 * 16 + 400 * 64) / 1_000_000
    assert usage_cost(model="gpt-realtime", usage=usage) == expected.quantize(Decimal("0.000001"))
    assert usage_cost(model="gpt-realtime-2025-08-28", usage=usage) == usage_cost(model="gpt-realtime", usage=usage)
    assert usage_cost(model="local-echo", usage=usage) == 0


@override_settings(SPEECH_MODEL_PRICES=PRICES)
def test_a_response_counts_once(call):
    usage = TokenUsage.from_response_usage(USAGE)
    now = timezone.now()
    assert call_usage_record(call_id=call.pk, model=call.model, response_id="resp_1", usage=usage, done_at=now)
    assert not call_usage_record(call_id=call.pk, model=call.model, response_id="resp_1", usage=usage, done_at=now)
    call.refresh_from_db()
    assert (call.input_audio_tokens, call.output_audio_tokens, call.total_tokens) == (1000, 400, 1700)
    assert call.cost == usage_cost(model="gpt-realtime", usage=usage)


def test_a_transcript_line_is_written_once(call):
    now = timezone.now()
    assert call_transcript_append(call_id=call.pk, key="item_1:0", speaker="user", text="hello", said_at=now)
    assert not call_transcript_append(call_id=call.pk, key="item_1:0", speaker="user", text="hello", said_at=now)
    assert [line.text for line in call.transcript.all()] == ["hello"]


def test_a_call_ends_once_and_keeps_its_first_reason(call):
    assert call_end(call_id=call.pk, reason=EndReason.TIME_LIMIT)
    assert not call_end(call_id=call.pk, reason=EndReason.HUNG_UP, at=timezone.now() + timedelta(seconds=5))
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.ENDED, EndReason.TIME_LIMIT)


def test_a_signed_reference_binds_call_tenant_and_actor_and_refuses_tampering():
    ref = CallRef(call_id="0b6f", tenant_id=7, actor="user:3")
    signed = call_ref_sign(ref=ref)
    assert call_ref_read(value=signed, max_age=60) == ref
    forged = (
        call_ref_sign(ref=CallRef(call_id="0b6f", tenant_id=8, actor="user:3")).split(":")[0]
        + signed[signed.index(":") :]
    )
    assert call_ref_read(value=forged, max_age=60) is None
    assert call_ref_read(value="garbage", max_age=60) is None
    assert call_ref_read(value=signed, max_age=-1) is None


def test_a_policy_cannot_hold_a_supervisor_for_ever_or_overflow_pruning(call):
    """A retention past datetime's range stopped calls_prune for every tenant; a limit of a billion seconds is none."""
    policy = CallPolicy(tenant=call.tenant, transcript_retention_days=800_000, max_call_seconds=10**9,
                        idle_seconds=10**9)  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert set(refused.value.message_dict) == {"transcript_retention_days", "max_call_seconds", "idle_seconds"}
    CallPolicy(tenant=call.tenant, transcript_retention_days=3650, max_call_seconds=86400, idle_seconds=60).full_clean()
