"""Reading calls: who may see which, what a tenant spent this month, usage by day and by month."""

from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

from django.db.models import Count, DateTimeField, DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncMonth

from .models import BudgetUnit, Call

TOKENS = F("input_text_tokens") + F("input_audio_tokens") + F("output_text_tokens") + F("output_audio_tokens")


def _duration(now):
    """A call's connected time so far: to its end, or to `now` while it lasts (0 when it never connected)."""
    return ExpressionWrapper(
        Coalesce("ended_at", Value(now, output_field=DateTimeField())) - F("connected_at"),
        output_field=DurationField(),
    )


def month_start(now):
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spent(*, tenant_id, unit, now):
    """What the tenant's calls minted this calendar month (UTC) used, in `unit` (BudgetUnit): one query."""
    calls = Call.objects.filter(tenant_id=tenant_id, minted_at__gte=month_start(now))
    if unit == BudgetUnit.MINUTES:
        total = calls.filter(connected_at__isnull=False).aggregate(total=Sum(_duration(now)))["total"]
        return Decimal(total.total_seconds() / 60 if total else 0).quantize(Decimal("0.0001"))
    if unit == BudgetUnit.TOKENS:
        return Decimal(calls.aggregate(total=Sum(TOKENS))["total"] or 0)
    return calls.aggregate(total=Sum("cost"))["total"] or Decimal(0)


def calls_visible(*, tenant_id, user_id=None, api_key_id=None, sees_all=False):
    """The calls of the tenant a caller may read: all of them (tenant admins, admin-scoped keys), else the
    ones it minted itself (a member its own, a key the ones minted with it)."""
    calls = Call.objects.filter(tenant_id=tenant_id)
    if sees_all:
        return calls
    if api_key_id is not None:
        return calls.filter(api_key_id=api_key_id)
    if user_id is not None:
        return calls.filter(user_id=user_id, api_key__isnull=True)
    return calls.none()


@dataclass(frozen=True)
class CallUsage:
    start: object  # an aware datetime: the day's or the month's start (UTC)
    calls: int
    minutes: Decimal
    tokens: int
    cost: Decimal


def _usage(calls, *, trunc, starts, now):
    rows = (
        calls.annotate(bucket=trunc("minted_at", tzinfo=UTC))  # days and months of UTC, whatever TIME_ZONE
        .values("bucket")
        .annotate(
            count=Count("id"),
            duration=Sum(_duration(now), filter=Q(connected_at__isnull=False)),
            tokens=Sum(TOKENS),
            cost=Sum("cost"),
        )
    )
    found = {row["bucket"]: row for row in rows}
    buckets = []
    for start in starts:
        row = found.get(start, {})
        duration = row.get("duration")
        buckets.append(
            CallUsage(
                start=start,
                calls=row.get("count", 0),
                minutes=Decimal(duration.total_seconds() / 60 if duration else 0).quantize(Decimal("0.01")),
                tokens=row.get("tokens") or 0,
                cost=(row.get("cost") or Decimal(0)).quantize(Decimal("0.000001")),
            )
        )
    return buckets


def calls_usage(*, calls, now, days=30, months=12):
    """Calls, minutes, tokens and cost of `calls` per day over the last `days` days and per calendar month
    over the last `months` months (UTC), oldest first, empty periods included."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_starts = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    month_starts = [month_start(now)]
    while len(month_starts) < months:
        month_starts.insert(0, month_start(month_starts[0] - timedelta(days=1)))
    return {
        "days": _usage(calls.filter(minted_at__gte=day_starts[0]), trunc=TruncDay, starts=day_starts, now=now),
        "months": _usage(calls.filter(minted_at__gte=month_starts[0]), trunc=TruncMonth, starts=month_starts, now=now),
    }
