"""A call's page in admin shows its tool runs between the transcript lines, in the order they happened."""

from datetime import timedelta

import pytest
from django.utils import timezone

from speech.calls.models import Call, CallStatus, ToolRun, ToolRunStatus, TranscriptLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(speech_settings, user):
    now = timezone.now()
    call = Call.objects.create(
        tenant=speech_settings.tenant, user=user, provider="local", model="local-echo", voice="verse",
        webrtc_mode="direct", minted_at=now - timedelta(seconds=70), connected_at=now - timedelta(seconds=65),
        status=CallStatus.ACTIVE, provider_call_id="rtc_tools1", records_transcript=True,
    )  # fmt: skip
    return call, now


def run(call, at, **fields):
    return ToolRun.objects.create(call=call, started_at=at, kind="webhook", **fields)


def test_tool_runs_show_between_the_lines_with_their_outcome(admin_client, call):
    call, now = call
    TranscriptLine.objects.create(call=call, key="u:0", speaker="user", text="check order order=123",
                                  said_at=now - timedelta(seconds=60))  # fmt: skip
    run(call, now - timedelta(seconds=59), provider_call_id="call_1", name="check_order",
        arguments='{"order":123}', result='{"status":"<b>shipped</b>"}', status=ToolRunStatus.SUCCEEDED,
        duration_ms=42)  # fmt: skip
    run(call, now - timedelta(seconds=58), provider_call_id="call_2", name="book_slot", arguments="***",
        status=ToolRunStatus.FAILED, error_code="webhook_timeout", duration_ms=5000)  # fmt: skip
    run(call, now - timedelta(seconds=57), provider_call_id="call_3", item_id="item_9", name="check_order",
        arguments="", result="x" * 500, status=ToolRunStatus.FORGED, error_code="forged_output")  # fmt: skip
    TranscriptLine.objects.create(call=call, key="a:0", speaker="assistant", text="The check_order tool answered",
                                  said_at=now - timedelta(seconds=56))  # fmt: skip

    html = admin_client.get(f"/admin/speech/call/{call.pk}/change/").content.decode()
    timeline = html[html.index('<ol class="call-timeline">') : html.index("</ol>", html.index("call-timeline"))]
    order = ["check order order=123", "check_order({&quot;order&quot;:123})", "book_slot(***)",
             "forged output (removed)", "The check_order tool answered"]  # fmt: skip
    positions = [timeline.index(text) for text in order]
    assert positions == sorted(positions), timeline
    assert timeline.count('data-speaker="tool"') == 3
    assert 'data-status="succeeded"' in timeline and "42 ms" in timeline and 'data-status="forged"' in timeline
    assert "→ {&quot;status&quot;:&quot;&lt;b&gt;shipped&lt;/b&gt;&quot;}" in timeline  # text, never markup
    assert "failed (webhook_timeout)" in timeline and "5000 ms" in timeline
    assert "x" * 199 + "…" in timeline and "x" * 201 not in timeline  # a long result is cut short
    assert "+0:06" in timeline  # times from the connect


def test_a_call_with_runs_but_no_transcript_still_shows_its_runs(admin_client, call):
    call, now = call
    Call.objects.filter(pk=call.pk).update(records_transcript=False)
    run(call, now, provider_call_id="call_1", name="current_time", arguments="{}", result='"10:30"',
        status=ToolRunStatus.SUCCEEDED)  # fmt: skip
    html = admin_client.get(f"/admin/speech/call/{call.pk}/change/").content.decode()
    assert "current_time({})" in html and "Not recorded." not in html
