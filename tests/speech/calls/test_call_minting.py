"""Every mint records its call; the provider's call id is learned from the relay, or from the browser's bound
report, which a hostile browser cannot turn against a call it does not own."""

import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.test import Client
from django.utils import timezone

from settings_admin.models import KeyScope, Membership, SpeechSettings, Tenant, TenantAPIKey
from speech.calls.models import BudgetUnit, Call, CallPolicy, CallStatus
from speech.calls.services import CallRef, call_gate, call_ref_sign
from speech.errors import BudgetExceeded
from speech.models import SessionAudit
from speech.supervisor import dispatch

# Transactional: the supervisor is handed a call once its transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)
CALLS = "https://api.openai.com/v1/realtime/calls"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
REPORT = "/api/v1/calls/report"


@pytest.fixture
def supervised(monkeypatch):
    """The call ids handed to the supervisor (once their transaction commits)."""
    submitted = []
    monkeypatch.setattr(dispatch, "attach_submit", lambda *, call_id: submitted.append(call_id) or True)
    return submitted


def mint(client, **extra):
    return client.post("/api/v1/realtime_session", data="{}", content_type="application/json", **extra)


def report(client, ref, provider_call_id="rtc_abc123", **extra):
    body = json.dumps({"ref": ref, "provider_call_id": provider_call_id})
    return client.post(REPORT, data=body, content_type="application/json", **extra)


def code(response):
    return (response.status_code, response.json()["error"]["code"])


def test_a_direct_mint_records_its_call_and_names_it_in_the_answer(
    logged_in_client, user, speech_settings, openai_mint
):
    CallPolicy.objects.create(tenant=speech_settings.tenant, record_transcripts=True, max_call_seconds=120)
    body = mint(logged_in_client, REMOTE_ADDR="203.0.113.9").json()

    call = Call.objects.get()
    assert body["call"]["id"] == str(call.pk)
    assert body["call"]["report_url"] == REPORT
    assert body["call"]["limits"] == {"max_call_seconds": 120, "idle_seconds": 300}
    assert (call.tenant_id, call.user, call.client_ip) == (speech_settings.tenant_id, user, "203.0.113.9")
    assert (call.provider, call.model, call.voice, call.webrtc_mode) == ("openai_realtime", "gpt-realtime", "verse",
                                                                         "direct")  # fmt: skip
    assert (call.provider_session_id, call.provider_call_id, call.status) == ("sess_test", "", CallStatus.MINTED)
    assert call.records_transcript is True
    assert SessionAudit.objects.get().call == call


def test_a_failed_mint_records_no_call(logged_in_client, speech_settings):
    with responses.RequestsMock() as mock:
        mock.post("https://api.openai.com/v1/realtime/client_secrets", status=500)
        assert mint(logged_in_client).status_code == 502
    assert not Call.objects.exists()
    assert SessionAudit.objects.get().call is None


def test_a_reported_call_becomes_active_and_supervised(logged_in_client, speech_settings, openai_mint, supervised):
    ref = mint(logged_in_client).json()["call"]["ref"]
    response = report(logged_in_client, ref)
    call = Call.objects.get()
    assert response.status_code == 200
    assert response.json() == {"id": str(call.pk), "status": "active"}
    assert (call.provider_call_id, call.status) == ("rtc_abc123", CallStatus.ACTIVE)
    assert call.connected_at is not None
    assert supervised == [str(call.pk)]


# --- what a hostile browser tries -----------------------------------------------------------------------------


@pytest.fixture
def other_tenant():
    tenant = Tenant.objects.create(slug="other", name="Other")
    SpeechSettings.objects.create(tenant=tenant, provider="openai_realtime")
    return tenant


def minted_call(tenant, **fields):
    return Call.objects.create(
        tenant=tenant, provider="openai_realtime", model="gpt-realtime", voice="verse", webrtc_mode="direct",
        minted_at=timezone.now(), **fields,
    )  # fmt: skip


def test_a_forged_or_altered_reference_is_refused(logged_in_client, speech_settings, openai_mint, supervised):
    ref = mint(logged_in_client).json()["call"]["ref"]
    value, _, signature = ref.rpartition(":")
    altered = ref[:-1] + ("A" if ref[-1] != "A" else "B")
    for forged in (altered, f"{value}:{'x' * len(signature)}", "not-a-ref", ""):
        assert code(report(logged_in_client, forged)) == (400, "call_ref_invalid" if forged else "invalid_request")
    assert Call.objects.get().provider_call_id == ""
    assert supervised == []


def test_another_tenants_reference_is_refused(logged_in_client, user, speech_settings, other_tenant, supervised):
    theirs = minted_call(other_tenant, user=user)
    ref = call_ref_sign(ref=CallRef(call_id=str(theirs.pk), tenant_id=other_tenant.pk, actor=f"user:{user.pk}"))
    assert code(report(logged_in_client, ref)) == (403, "call_ref_forbidden")
    assert Call.objects.get().provider_call_id == ""
    assert supervised == []


def test_another_users_reference_is_refused(logged_in_client, speech_settings, django_user_model, supervised):
    bob = django_user_model.objects.create_user(username="bob", password="x")
    Membership.objects.create(user=bob, tenant=speech_settings.tenant)
    bobs = minted_call(speech_settings.tenant, user=bob)
    ref = call_ref_sign(ref=CallRef(call_id=str(bobs.pk), tenant_id=speech_settings.tenant_id, actor=f"user:{bob.pk}"))
    assert code(report(logged_in_client, ref)) == (403, "call_ref_forbidden")
    # Nor may an API key of the tenant use a reference a person was given.
    _, key = TenantAPIKey.objects.create_key(name="k", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)
    assert code(report(Client(), ref, HTTP_AUTHORIZATION=f"Api-Key {key}")) == (403, "call_ref_forbidden")
    assert supervised == []


def test_a_reference_is_good_only_for_the_secrets_lifetime(
    logged_in_client, user, speech_settings, monkeypatch, supervised
):
    call = minted_call(speech_settings.tenant, user=user)
    ref = CallRef(call_id=str(call.pk), tenant_id=speech_settings.tenant_id, actor=f"user:{user.pk}")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - speech_settings.secret_ttl_seconds - 61)
    old = call_ref_sign(ref=ref)
    monkeypatch.setattr(time, "time", real)
    assert code(report(logged_in_client, old)) == (400, "call_ref_invalid")
    assert report(logged_in_client, call_ref_sign(ref=ref)).status_code == 200


def test_a_replayed_report_is_refused(logged_in_client, speech_settings, openai_mint, supervised):
    ref = mint(logged_in_client).json()["call"]["ref"]
    assert report(logged_in_client, ref).status_code == 200
    assert code(report(logged_in_client, ref)) == (409, "call_already_reported")
    assert code(report(logged_in_client, ref, "rtc_other")) == (409, "call_already_reported")
    assert Call.objects.get().provider_call_id == "rtc_abc123"
    assert len(supervised) == 1


def test_another_tenants_reported_call_id_cannot_be_claimed(
    logged_in_client, speech_settings, other_tenant, openai_mint, supervised
):
    """Two tenants on one provider account: a browser of one names the other's live call id."""
    minted_call(other_tenant, provider_call_id="rtc_theirs", status=CallStatus.ACTIVE)
    ref = mint(logged_in_client).json()["call"]["ref"]
    assert code(report(logged_in_client, ref, "rtc_theirs")) == (409, "call_already_reported")
    mine = Call.objects.get(tenant=speech_settings.tenant)
    assert (mine.provider_call_id, mine.status) == ("", CallStatus.MINTED)
    assert supervised == []


@pytest.mark.parametrize(
    "provider_call_id",
    ["abc", "rtc_", "rtc_../../v1/x", "rtc_a b", "rtc_a?x=1", "rtc_a/hangup", "rtc_" + "a" * 101, "rtc_é", "RTC_a"],
)
def test_a_malformed_call_id_is_refused(logged_in_client, speech_settings, openai_mint, supervised, provider_call_id):
    ref = mint(logged_in_client).json()["call"]["ref"]
    assert code(report(logged_in_client, ref, provider_call_id)) == (400, "call_id_invalid")
    assert Call.objects.get().provider_call_id == ""


def test_a_reference_to_an_unknown_call_is_not_found(logged_in_client, user, speech_settings):
    ref = call_ref_sign(ref=CallRef(call_id=str(uuid.uuid4()), tenant_id=speech_settings.tenant_id,
                                    actor=f"user:{user.pk}"))  # fmt: skip
    assert code(report(logged_in_client, ref)) == (404, "call_not_found")


def test_the_report_needs_the_csrf_token_with_a_cookie(user, speech_settings, openai_mint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert code(report(client, "x")) == (403, "csrf_failed")


def test_an_outsider_cannot_report(client, speech_settings, django_user_model):
    assert code(report(client, "x")) == (401, "not_authenticated")
    client.force_login(django_user_model.objects.create_user(username="mallory", password="x"))
    assert code(report(client, "x")) == (403, "not_a_member")


# --- the unified relay -------------------------------------------------------------------------------------------


@pytest.fixture
def unified(speech_settings):
    speech_settings.webrtc_mode = "unified"
    speech_settings.save()
    return speech_settings


def relay(client, url="/api/v1/realtime_call"):
    return client.post(url, data=OFFER, content_type="application/sdp")


@responses.activate
def test_the_relay_records_the_call_active_from_the_providers_location(logged_in_client, unified, supervised):
    responses.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_42"})
    described = mint(logged_in_client).json()["call"]
    response = relay(logged_in_client, mint(logged_in_client).json()["webrtc"]["url"])
    assert response.status_code == 201
    call = Call.objects.get()
    assert response["X-Call-Id"] == str(call.pk) != described["id"]  # each describe names a new call
    assert (call.provider_call_id, call.status, call.webrtc_mode) == ("rtc_42", CallStatus.ACTIVE, "unified")
    assert supervised == [str(call.pk)]
    assert SessionAudit.objects.get().call == call


@responses.activate
def test_a_relay_reference_opens_one_call(logged_in_client, unified, supervised):
    responses.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_42"})
    described = mint(logged_in_client).json()
    assert relay(logged_in_client, described["webrtc"]["url"])["X-Call-Id"] == described["call"]["id"]
    assert code(relay(logged_in_client, described["webrtc"]["url"])) == (409, "call_already_reported")
    assert Call.objects.count() == 1


@responses.activate
def test_a_relay_reference_of_someone_else_is_refused(logged_in_client, user, unified, other_tenant):
    responses.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_42"})
    theirs = call_ref_sign(ref=CallRef(call_id=str(uuid.uuid4()), tenant_id=other_tenant.pk, actor=f"user:{user.pk}"))
    assert code(relay(logged_in_client, f"/api/v1/realtime_call?call={theirs}")) == (403, "call_ref_forbidden")
    assert code(relay(logged_in_client, "/api/v1/realtime_call?call=forged")) == (400, "call_ref_invalid")
    assert not responses.calls  # refused before the provider is asked
    assert not Call.objects.exists()


@pytest.mark.parametrize("location", ["", "/v1/realtime/calls/", "/v1/realtime/calls/evil/../x y"])
def test_a_malformed_location_records_an_unsupervised_call(logged_in_client, unified, supervised, location):
    with responses.RequestsMock() as mock:
        mock.post(CALLS, status=201, body=ANSWER, headers={"Location": location} if location else {})
        assert relay(logged_in_client).status_code == 201
    call = Call.objects.get()
    assert (call.provider_call_id, call.status) == ("", CallStatus.MINTED)
    assert supervised == []


@responses.activate
def test_a_provider_naming_a_recorded_call_id_does_not_hand_over_that_call(
    logged_in_client, unified, other_tenant, supervised
):
    theirs = minted_call(other_tenant, provider_call_id="rtc_42", status=CallStatus.ACTIVE)
    responses.post(CALLS, status=201, body=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_42"})
    assert relay(logged_in_client).status_code == 201
    mine = Call.objects.get(tenant=unified.tenant)
    assert (mine.provider_call_id, mine.status) == ("", CallStatus.MINTED)
    assert Call.objects.get(pk=theirs.pk).tenant == other_tenant
    assert supervised == []


# --- budgets ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "budget", "spend"),
    [
        (BudgetUnit.MINUTES, "2", {"connected_at": timedelta(minutes=3)}),
        (BudgetUnit.TOKENS, "1000", {"input_audio_tokens": 600, "output_audio_tokens": 400}),
        (BudgetUnit.COST, "0.5", {"cost": Decimal("0.5")}),
    ],
)
def test_a_spent_budget_refuses_new_mints(logged_in_client, speech_settings, openai_mint, unit, budget, spend):
    now = timezone.now()
    CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal(budget), budget_unit=unit)
    fields = dict(spend)
    if "connected_at" in fields:
        fields.update(connected_at=now - fields["connected_at"], ended_at=now, status=CallStatus.ENDED)
    assert mint(logged_in_client).status_code == 200  # nothing spent yet
    minted_call(speech_settings.tenant, **fields)
    from speech.calls.services import call_gate_forget

    call_gate_forget()  # what SPEECH_CALL_GATE_SECONDS later does
    response = mint(logged_in_client)
    assert code(response) == (402, "budget_exceeded")
    assert SessionAudit.objects.filter(error_code="budget_exceeded").count() == 1
    assert Call.objects.count() == 2  # the refused mint recorded no call


def test_last_months_calls_and_other_tenants_do_not_count(logged_in_client, speech_settings, other_tenant, openai_mint):
    now = timezone.now()
    CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal("1"), budget_unit="cost")
    last_month = now.replace(day=1) - timedelta(days=1)
    minted_call(speech_settings.tenant, cost=Decimal(5)).__class__.objects.filter(cost=5).update(minted_at=last_month)
    minted_call(other_tenant, cost=Decimal(5))
    assert mint(logged_in_client).status_code == 200


def test_a_live_call_counts_its_minutes_so_far(speech_settings):
    CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal("1"))
    minted_call(speech_settings.tenant, status=CallStatus.ACTIVE, connected_at=timezone.now() - timedelta(minutes=2))
    with pytest.raises(BudgetExceeded):
        call_gate(tenant_id=speech_settings.tenant_id)


def test_a_saved_policy_applies_at_the_next_mint(logged_in_client, speech_settings, openai_mint):
    policy = CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal("0"))
    assert code(mint(logged_in_client)) == (402, "budget_exceeded")
    policy.monthly_budget = None
    policy.save()
    assert mint(logged_in_client).status_code == 200


def test_the_budget_check_is_cheap(speech_settings, django_assert_max_num_queries):
    """On the mint path: at most two queries per SPEECH_CALL_GATE_SECONDS, then none."""
    CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal("100"))
    for _ in range(20):
        minted_call(speech_settings.tenant, cost=Decimal("0.01"))
    with django_assert_max_num_queries(2):
        call_gate(tenant_id=speech_settings.tenant_id)
    started = time.perf_counter()
    with django_assert_max_num_queries(0):
        for _ in range(1000):
            call_gate(tenant_id=speech_settings.tenant_id)
    assert (time.perf_counter() - started) / 1000 < 0.001


def test_a_stale_reading_is_read_again(speech_settings, settings):
    CallPolicy.objects.create(tenant=speech_settings.tenant, monthly_budget=Decimal("1"), budget_unit="cost")
    call_gate(tenant_id=speech_settings.tenant_id)
    minted_call(speech_settings.tenant, cost=Decimal(2))
    call_gate(tenant_id=speech_settings.tenant_id)  # within SPEECH_CALL_GATE_SECONDS: the earlier reading
    settings.SPEECH_CALL_GATE_SECONDS = 0
    call_gate(tenant_id=speech_settings.tenant_id)  # uses the earlier reading, reads again after the answer
    with pytest.raises(BudgetExceeded):
        call_gate(tenant_id=speech_settings.tenant_id)


def test_reports_are_rate_limited_per_caller(logged_in_client, speech_settings, settings):
    settings.SPEECH_CALL_REPORT_RATE = "2/m"
    for _ in range(2):
        assert code(report(logged_in_client, "forged")) == (400, "call_ref_invalid")
    response = report(logged_in_client, "forged")
    assert code(response) == (429, "rate_limited")
    assert int(response["Retry-After"]) >= 1


def test_a_spent_budget_refuses_unified_mode_before_the_relay(logged_in_client, unified):
    CallPolicy.objects.create(tenant=unified.tenant, monthly_budget=Decimal("0"))
    assert code(mint(logged_in_client)) == (402, "budget_exceeded")
    assert code(relay(logged_in_client)) == (402, "budget_exceeded")
    assert SessionAudit.objects.get().error_code == "budget_exceeded"  # the relay's attempt
