"""Read-only queries over calls."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Call


@dataclass(frozen=True)
class MonthUsage:
    """A tenant's calls minted this calendar month (in TIME_ZONE), up to `now`: running calls count to `now`."""

    calls: int
    seconds: float
    tokens: int
    cost: Decimal

    @property
    def minutes(self):
        return Decimal(str(self.seconds)) / 60


def month_start(now):
    return timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def tenant_month_usage(*, tenant_id, now=None):
    now = now or timezone.now()
    calls = Call.objects.filter(tenant_id=tenant_id, minted_at__gte=month_start(now), minted_at__lte=now)
    totals = calls.aggregate(
        calls=Count("pk"),
        tokens=Coalesce(
            Sum(F("input_text_tokens") + F("input_audio_tokens") + F("output_text_tokens") + F("output_audio_tokens")),
            0,
        ),
        cost=Sum("cost"),
    )
    talked = calls.filter(connected_at__isnull=False).aggregate(
        duration=Sum(
            ExpressionWrapper(
                Coalesce("ended_at", Value(now)) - F("connected_at"), output_field=DurationField()
            )
        )
    )["duration"]
    return MonthUsage(
        calls=totals["calls"],
        seconds=max(0.0, talked.total_seconds()) if talked is not None else 0.0,
        tokens=int(totals["tokens"]),
        cost=totals["cost"] or Decimal(0),
    )
