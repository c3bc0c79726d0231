"""The shipped built-ins, and the call policy's time zone they answer in."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from settings_admin.models import Tenant
from speech.calls.models import CallPolicy
from speech.calls.policy import call_policy_get
from speech.tools.builtins import ToolContext, current_time, end_call
from speech.tools.registry import builtin_get


def context(zone="UTC"):
    return ToolContext(call_id="c-1", tenant_id=1, time_zone=zone)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu"])
def test_current_time_is_now_in_the_zone(zone):
    answer = current_time(arguments={}, context=context(zone))
    told = datetime.fromisoformat(answer["iso"])
    now = datetime.now(ZoneInfo(zone))
    assert told.utcoffset() == now.utcoffset()
    assert abs((now - told).total_seconds()) < 5
    assert answer["time_zone"] == zone


def test_end_call_asks_the_supervisor_to_end_the_call():
    ctx = context()
    assert end_call(arguments={"reason": "the user said goodbye"}, context=ctx) == {
        "ending": True, "reason": "the user said goodbye",
    }  # fmt: skip
    assert ctx.end_requested


def test_the_shipped_built_ins_are_registered_with_their_handlers():
    assert builtin_get("end_call").load() is end_call
    assert builtin_get("current_time").load() is current_time


@pytest.mark.django_db
def test_the_call_policy_time_zone_is_an_iana_zone_and_reaches_the_policy_view(settings):
    tenant = Tenant.objects.create(slug="tz", name="TZ")
    policy = CallPolicy(tenant=tenant, time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as caught:
        policy.full_clean()
    assert caught.value.error_dict["time_zone"][0].code == "invalid_time_zone"
    assert call_policy_get(tenant_id=tenant.pk).time_zone == settings.TIME_ZONE  # no policy: the operator's
    policy.time_zone = "Europe/Paris"
    policy.full_clean()
    policy.save()
    assert call_policy_get(tenant_id=tenant.pk).time_zone == "Europe/Paris"
