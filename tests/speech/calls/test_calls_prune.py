"""calls_prune deletes transcript lines past each tenant's retention, and nothing else."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from settings_admin.models import Tenant
from speech.calls.models import Call, CallPolicy, TranscriptLine

pytestmark = pytest.mark.django_db


def call_with_lines(tenant, *ages_in_days):
    now = timezone.now()
    call = Call.objects.create(tenant=tenant, provider="local", model="m", voice="v", webrtc_mode="direct",
                               minted_at=now - timedelta(days=max(ages_in_days)))  # fmt: skip
    for index, age in enumerate(ages_in_days):
        TranscriptLine.objects.create(call=call, key=f"i{index}:0", speaker="user", text=f"{age} days old",
                                      said_at=now - timedelta(days=age))  # fmt: skip
    return call


def texts(call):
    return sorted(call.transcript.values_list("text", flat=True))


def test_each_tenant_keeps_its_own_retention(capsys):
    short = Tenant.objects.create(slug="short", name="Short")
    long_ = Tenant.objects.create(slug="long", name="Long")
    default = Tenant.objects.create(slug="nopolicy", name="No policy")
    CallPolicy.objects.create(tenant=short, transcript_retention_days=7)
    CallPolicy.objects.create(tenant=long_, transcript_retention_days=90)
    short_call = call_with_lines(short, 1, 8)
    long_call = call_with_lines(long_, 8, 60, 91)
    default_call = call_with_lines(default, 29, 31)

    call_command("calls_prune")

    assert texts(short_call) == ["1 days old"]
    assert texts(long_call) == ["60 days old", "8 days old"]
    assert texts(default_call) == ["29 days old"]
    assert Call.objects.count() == 3  # the calls themselves, usage and all, stay
    assert "Deleted 3 transcript lines" in capsys.readouterr().out
    call_command("calls_prune")
    assert TranscriptLine.objects.count() == 4  # a second run finds nothing more
