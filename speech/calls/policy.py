"""A tenant's call policy as a frozen read model, with the operator's defaults filled in."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from .models import BudgetUnit, CallPolicy

DEFAULT_RETENTION_DAYS = 30  # for tenants without a policy (the model's default too)


@dataclass(frozen=True)
class CallPolicyView:
    record_transcripts: bool
    transcript_retention_days: int
    max_call_seconds: int | None  # None: no limit
    idle_seconds: int | None
    monthly_budget: Decimal | None
    budget_unit: str
    time_zone: str = "UTC"


def call_policy_get(*, tenant_id):
    policy = CallPolicy.objects.filter(tenant_id=tenant_id).first()
    if policy is None:
        return CallPolicyView(
            record_transcripts=False,
            transcript_retention_days=DEFAULT_RETENTION_DAYS,
            max_call_seconds=settings.SPEECH_CALL_MAX_SECONDS or None,
            idle_seconds=settings.SPEECH_CALL_IDLE_SECONDS or None,
            monthly_budget=None,
            budget_unit=BudgetUnit.MINUTES,
            time_zone=settings.TIME_ZONE,
        )
    return CallPolicyView(
        record_transcripts=policy.record_transcripts,
        transcript_retention_days=policy.transcript_retention_days,
        max_call_seconds=policy.max_call_seconds or settings.SPEECH_CALL_MAX_SECONDS or None,
        idle_seconds=policy.idle_seconds or settings.SPEECH_CALL_IDLE_SECONDS or None,
        monthly_budget=policy.monthly_budget,
        budget_unit=policy.budget_unit,
        time_zone=policy.time_zone or settings.TIME_ZONE,
    )
