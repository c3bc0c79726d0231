from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncHour

from .models import Outcome, SessionAudit


@dataclass(frozen=True)
class UsageBucket:
    start: object  # an aware datetime
    sessions: int
    failures: int


def _buckets(*, tenant_id, since, step, count, trunc):
    rows = (
        SessionAudit.objects.filter(tenant_id=tenant_id, created_at__gte=since)
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(sessions=Count("id"), failures=Count("id", filter=Q(outcome=Outcome.FAILURE)))
    )
    found = {row["bucket"]: row for row in rows}
    buckets = []
    for index in range(count):
        start = since + index * step
        row = found.get(start, {})
        buckets.append(UsageBucket(start, row.get("sessions", 0), row.get("failures", 0)))
    return buckets


def tenant_usage(*, tenant_id, now):
    """Session attempts and failures per hour over the last 24 hours, and per day over the last 30 days."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "hours": _buckets(
            tenant_id=tenant_id, since=hour - timedelta(hours=23), step=timedelta(hours=1), count=24, trunc=TruncHour
        ),
        "days": _buckets(
            tenant_id=tenant_id, since=day - timedelta(days=29), step=timedelta(days=1), count=30, trunc=TruncDay
        ),
    }
