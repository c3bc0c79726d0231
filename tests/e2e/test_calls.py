"""The server in the call, end to end: a real Chromium calls the local provider through the gateway, the
supervisor joins the call, and the call's record, its limits and the page agree (docs/calls.md)."""

from django.contrib.auth import get_user_model
from django.utils import timezone

from settings_admin.models import SpeechSettings, Tenant
from speech.calls.models import Call, CallPolicy, CallStatus, EndReason, ResponseUsage, TranscriptLine
from tests.e2e.conftest import ARTIFACTS
from tests.parts import until as parts_until

REPORT = "/api/v1/calls/report"
ROOT_PASSWORD = "e2e-root-password-correct-horse"

# Sends a call report from the page, as its own script would (its session cookie and CSRF token).
PAGE_REPORT = """async ([ref, callId]) => {
  const token = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/)[1];
  const response = await fetch('/api/v1/calls/report', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRFToken': decodeURIComponent(token)},
    body: JSON.stringify({ref, provider_call_id: callId}),
  });
  return [response.status, await response.json()];
}"""


def until(condition):
    """Polls the database (the supervisor writes from its own thread) until `condition()` holds."""
    return parts_until(condition, seconds=20, step=0.1)


def policy(**fields):
    CallPolicy.objects.update_or_create(tenant=Tenant.objects.get(slug="default"), defaults=fields)


def connect(chat):
    """Connects the logged-in page; returns the mint answer's call and the report's response."""
    page = chat.page
    with page.expect_response(lambda r: r.url.endswith(REPORT)) as reported:
        with page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
            page.click("#connect")
        chat.wait_connected()
    return minted.value.json()["call"], reported.value


def test_a_browser_call_is_supervised_and_its_record_is_in_admin(chat):
    policy(record_transcripts=True)
    page = chat.page
    chat.log_in()
    call, reported = connect(chat)
    assert reported.status == 200
    record = Call.objects.get(pk=call["id"])
    assert record.status == CallStatus.ACTIVE and record.provider_call_id.startswith("rtc_")

    page.fill("#message", "Testing one two three")
    page.press("#message", "Enter")
    page.wait_for_selector(
        "#transcript li[data-role=assistant][data-pending=false]:has-text('Testing one two three')", timeout=15000
    )

    def said():
        lines = list(TranscriptLine.objects.filter(call_id=call["id"]).values_list("speaker", "text"))
        speakers = {speaker for speaker, text in lines if "Testing one two three" in text}
        return lines if speakers == {"user", "assistant"} else None

    lines = until(said)
    until(lambda: ResponseUsage.objects.filter(call_id=call["id"]).exists())
    page.click("#hangup")
    ended = until(lambda: Call.objects.filter(pk=call["id"], status=CallStatus.ENDED).first())
    assert ended.end_reason == EndReason.HUNG_UP
    assert ended.total_tokens > 0 and ended.duration_seconds > 0
    assert page.text_content("#call-notice") == ""  # the user hung up: no server notice

    assert not chat.logged("PAGEERROR")

    # In admin, in a browser 1280 px wide: the list fits, the call page has the timeline, usage and cost.
    get_user_model().objects.create_superuser(username="root", password=ROOT_PASSWORD)
    admin = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        staff = admin.new_page()
        staff.goto(f"{chat.base_url}/admin/login/")
        staff.fill("#id_username", "root")
        staff.fill("#id_password", ROOT_PASSWORD)
        staff.click("input[type=submit]")
        staff.goto(f"{chat.base_url}/admin/speech/call/")
        assert "Hung up by the user" in staff.text_content("#result_list")
        assert staff.evaluate("() => document.documentElement.scrollWidth") <= 1280
        results = "document.querySelector('#changelist .results')"
        assert staff.evaluate(f"() => {results}.scrollWidth <= {results}.clientWidth"), "the list's columns are cut"
        staff.screenshot(path=str(ARTIFACTS / "admin-calls.png"))
        staff.goto(f"{chat.base_url}/admin/speech/call/{call['id']}/change/")
        timeline = staff.locator(".call-timeline li")
        assert [item.get_attribute("data-speaker") for item in timeline.all()][:2] == ["user", "assistant"]
        page_text = staff.text_content("#content")
        for _, text in lines:
            assert text in page_text
        assert str(ended.total_tokens) in page_text and "Hung up by the user" in page_text
        staff.screenshot(path=str(ARTIFACTS / "admin-call.png"), full_page=True)
        staff.goto(f"{chat.base_url}/admin/speech/call/usage/")
        assert staff.locator("svg.usage-chart").count() == 8  # calls, minutes, tokens, cost; by day and month
        staff.screenshot(path=str(ARTIFACTS / "admin-call-usage.png"), full_page=True)
    finally:
        admin.close()


def test_a_call_over_its_time_limit_is_ended_by_the_server_with_the_notice(chat):
    policy(record_transcripts=True, max_call_seconds=3)
    page = chat.page
    chat.log_in()
    call, reported = connect(chat)
    assert reported.status == 200
    assert call["limits"]["max_call_seconds"] == 3
    page.wait_for_selector("#call-notice[data-kind=remaining]:has-text('Time left in this call: 0:0')")

    # The notice is spoken (its transcript reaches the page too), then the server hangs up.
    page.wait_for_selector("#transcript li[data-role=assistant]:has-text('time limit')", timeout=15000)
    page.wait_for_selector("#call-notice[data-kind=ended]", timeout=20000)
    assert page.text_content("#call-notice") == "The call reached its time limit of 3 seconds."
    assert page.get_attribute("#status", "data-state") == "idle"
    page.screenshot(path=str(ARTIFACTS / "chat-call-ended-by-server.png"))

    ended = Call.objects.get(pk=call["id"])
    assert (ended.status, ended.end_reason) == (CallStatus.ENDED, EndReason.TIME_LIMIT)
    assert 3 <= ended.duration_seconds < 20
    notice = TranscriptLine.objects.filter(call_id=call["id"], speaker="assistant", text__contains="time limit")
    assert notice.exists()
    assert chat.logged("[speech] the call ended: time_limit")


def test_a_direct_mode_report_of_another_tenants_call_id_is_refused(chat):
    """Two tenants on one provider account: a page of one names the other's live call id with its own ref."""
    other = Tenant.objects.create(slug="other", name="Other")
    SpeechSettings.objects.create(tenant=other, provider="local", model="local-echo")
    theirs = Call.objects.create(
        tenant=other, provider="local", model="local-echo", voice="verse", webrtc_mode="direct",
        provider_call_id="rtc_0123456789abcdef", status=CallStatus.ACTIVE, minted_at=timezone.now(),
    )  # fmt: skip
    page = chat.page
    held = []

    def hold(route):  # the page's own report never reaches the gateway (refused, so it is not tried again)
        held.append(route.request.post_data_json)
        route.fulfill(status=409, json={"error": {"code": "call_already_reported", "message": "held by the test"}})

    page.route(f"**{REPORT}", hold)
    chat.log_in()
    with (
        page.expect_response(lambda r: r.url.endswith(REPORT)),  # the page's report, held
        page.expect_response(lambda r: "/realtime/calls" in r.url and r.request.method == "POST") as answered,
        page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted,
    ):
        page.click("#connect")
        chat.wait_connected()
    call = minted.value.json()["call"]
    own_call_id = answered.value.headers["location"].rsplit("/", 1)[-1]
    page.unroute(f"**{REPORT}")
    assert held == [{"ref": call["ref"], "provider_call_id": own_call_id}]

    status, body = page.evaluate(PAGE_REPORT, [call["ref"], theirs.provider_call_id])
    assert (status, body["error"]["code"]) == (409, "call_already_reported")
    status, body = page.evaluate(PAGE_REPORT, [call["ref"][:-2] + "xx", own_call_id])
    assert (status, body["error"]["code"]) == (400, "call_ref_invalid")
    theirs.refresh_from_db()
    assert (theirs.tenant, theirs.status) == (other, CallStatus.ACTIVE)
    assert Call.objects.get(pk=call["id"]).provider_call_id == ""

    # The reference is still good for the page's own call: the refusal was the call id's.
    status, body = page.evaluate(PAGE_REPORT, [call["ref"], own_call_id])
    assert (status, body["status"]) == (200, "active")
    until(lambda: Call.objects.get(pk=call["id"]).provider_call_id == own_call_id)
    page.click("#hangup")
    until(lambda: Call.objects.filter(pk=call["id"], status=CallStatus.ENDED).exists())


def test_a_unified_call_is_supervised_from_the_relay_and_its_end_is_shown(chat):
    SpeechSettings.objects.filter(tenant__slug="default").update(webrtc_mode="unified")
    policy(max_call_seconds=2)
    page = chat.page
    chat.log_in()
    with (
        page.expect_response(lambda r: "/api/v1/realtime_call" in r.url) as relayed,
        page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted,
    ):
        page.click("#connect")
        chat.wait_connected()
    call = minted.value.json()["call"]
    assert call["report_url"] is None
    assert relayed.value.headers["x-call-id"] == call["id"]
    record = Call.objects.get(pk=call["id"])
    assert (record.webrtc_mode, record.status) == ("unified", CallStatus.ACTIVE)
    assert record.provider_call_id == relayed.value.headers["x-realtime-call-id"]
    page.wait_for_selector("#call-notice[data-kind=ended]", timeout=20000)
    assert page.text_content("#call-notice") == "The call reached its time limit of 2 seconds."
    assert Call.objects.get(pk=call["id"]).end_reason == EndReason.TIME_LIMIT
    assert not [line for line in chat.console if REPORT in line]
