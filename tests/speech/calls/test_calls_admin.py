"""Calls in admin: the list and its filters, a call's transcript timeline and usage, the usage charts, policies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from settings_admin.models import Tenant
from speech.calls.models import Call, CallPolicy, CallStatus, EndReason, ResponseUsage, TranscriptLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(speech_settings, user):
    now = timezone.now()
    call = Call.objects.create(
        tenant=speech_settings.tenant, user=user, provider="local", model="local-echo", voice="verse",
        webrtc_mode="direct", minted_at=now - timedelta(seconds=70), connected_at=now - timedelta(seconds=65),
        ended_at=now, status=CallStatus.ENDED, end_reason=EndReason.TIME_LIMIT, provider_call_id="rtc_admin1",
        records_transcript=True, input_audio_tokens=120, output_audio_tokens=80, cost=Decimal("0.0123"),
    )  # fmt: skip
    TranscriptLine.objects.create(call=call, key="a:0", speaker="user", text="Hello <b>there</b>",
                                  said_at=now - timedelta(seconds=60))  # fmt: skip
    TranscriptLine.objects.create(call=call, key="b:0", speaker="assistant", text="Hi, how can I help?",
                                  said_at=now - timedelta(seconds=58))  # fmt: skip
    ResponseUsage.objects.create(call=call, response_id="resp_1", done_at=now, input_audio_tokens=120,
                                 output_audio_tokens=80, cost=Decimal("0.0123"))  # fmt: skip
    return call


def test_the_call_list_filters_by_tenant_date_outcome_and_provider(admin_client, call):
    other = Tenant.objects.create(slug="other", name="Other")
    Call.objects.create(tenant=other, provider="openai_realtime", model="gpt-realtime", voice="verse",
                        webrtc_mode="unified", minted_at=timezone.now())  # fmt: skip
    page = admin_client.get("/admin/speech/call/?end_reason__exact=time_limit&provider=local")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Longest call reached" in html and "1:05" in html
    for name in ("tenant__id__exact", "minted_at__gte", "status__exact", "end_reason__exact", "provider"):
        assert name in html  # a filter of each
    assert "1 call" in admin_client.get("/admin/speech/call/?end_reason__exact=time_limit").content.decode()
    assert "0 calls" in admin_client.get("/admin/speech/call/?end_reason__exact=idle").content.decode()


def test_a_call_page_shows_the_transcript_as_a_timeline_with_usage_and_cost(admin_client, call):
    html = admin_client.get(f"/admin/speech/call/{call.pk}/change/").content.decode()
    assert '<li data-speaker="user"' in html and '<li data-speaker="assistant"' in html
    assert "+0:05" in html and "+0:07" in html  # times from the connect
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html  # what was said is text, never markup
    assert html.index("Hello") < html.index("Hi, how can I help?")
    assert "resp_1" in html and "0.0123" in html and ">200<" in html.replace(" ", "").replace("\n", "")
    assert 'name="_save"' not in html  # read-only


def test_the_usage_page_charts_calls_minutes_tokens_and_cost(admin_client, call):
    page = admin_client.get(f"/admin/speech/call/usage/{call.tenant_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    for title in ("Calls", "Minutes", "Tokens", "Cost"):
        assert f"<strong>{title}</strong>" in html
    assert html.count("<g><title>") == 4 * (30 + 12)
    assert ": 200 tokens</title>" in html and "USD" in html and "day (UTC)" in html
    assert admin_client.get("/admin/speech/call/usage/").status_code == 200


def test_the_usage_page_is_for_staff(logged_in_client, call):
    assert logged_in_client.get("/admin/speech/call/usage/").status_code == 302


def test_a_call_policy_is_edited_in_admin(admin_client, speech_settings):
    response = admin_client.post("/admin/speech/callpolicy/add/", {
        "tenant": speech_settings.tenant_id, "record_transcripts": "on", "transcript_retention_days": 7,
        "max_call_seconds": 60, "idle_seconds": "", "monthly_budget": "10", "budget_unit": "minutes",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = CallPolicy.objects.get()
    assert (policy.record_transcripts, policy.max_call_seconds, policy.monthly_budget) == (True, 60, Decimal(10))
