"""Reading calls and usage: the request's tenant only; admins see the tenant's calls, others their own."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from settings_admin.models import KeyScope, Membership, Role, SpeechSettings, Tenant, TenantAPIKey, TenantHostname
from speech.calls.models import Call, CallStatus, EndReason, TranscriptLine

pytestmark = pytest.mark.django_db


def make_call(tenant, **fields):
    return Call.objects.create(
        tenant=tenant, provider="openai_realtime", model="gpt-realtime", voice="verse", webrtc_mode="direct",
        minted_at=fields.pop("minted_at", timezone.now()), **fields,
    )  # fmt: skip


@pytest.fixture
def bob(tenant, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="x")
    Membership.objects.create(user=bob, tenant=tenant)
    return bob


@pytest.fixture
def other_tenant():
    tenant = Tenant.objects.create(slug="other", name="Other")
    SpeechSettings.objects.create(tenant=tenant)
    return tenant


def key_client(tenant, scope):
    _, key = TenantAPIKey.objects.create_key(name=scope, tenant=tenant, scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Api-Key {key}")


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_members_see_their_own_calls_and_admins_all(logged_in_client, user, bob, tenant, speech_settings):
    mine, bobs = make_call(tenant, user=user), make_call(tenant, user=bob)
    assert ids(logged_in_client.get("/api/v1/calls")) == {str(mine.pk)}
    assert logged_in_client.get(f"/api/v1/calls/{bobs.pk}").json()["error"]["code"] == "call_not_found"
    Membership.objects.filter(user=user).update(role=Role.ADMIN)
    assert ids(logged_in_client.get("/api/v1/calls")) == {str(mine.pk), str(bobs.pk)}


def test_api_keys_see_the_calls_they_minted_or_all_with_the_admin_scope(tenant, speech_settings, user):
    session_key = key_client(tenant, KeyScope.SESSIONS)
    keyed = make_call(tenant, api_key=TenantAPIKey.objects.get(name=KeyScope.SESSIONS))
    persons = make_call(tenant, user=user)
    assert ids(session_key.get("/api/v1/calls")) == {str(keyed.pk)}
    assert ids(key_client(tenant, KeyScope.ADMIN).get("/api/v1/calls")) == {str(keyed.pk), str(persons.pk)}


def test_another_tenants_calls_are_never_shown(tenant, speech_settings, other_tenant):
    theirs = make_call(other_tenant)
    admin = key_client(tenant, KeyScope.ADMIN)
    assert ids(admin.get("/api/v1/calls")) == set()
    response = admin.get(f"/api/v1/calls/{theirs.pk}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "call_not_found")
    # Their key reads their own call; on a host our tenant lists, it is refused outright.
    theirs_key = key_client(other_tenant, KeyScope.ADMIN)
    assert theirs_key.get(f"/api/v1/calls/{theirs.pk}").status_code == 200
    TenantHostname.objects.create(tenant=tenant, hostname="testserver")
    response = theirs_key.get(f"/api/v1/calls/{theirs.pk}")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "api_key_wrong_tenant")


def test_outsiders_are_refused(client, speech_settings, django_user_model):
    assert client.get("/api/v1/calls").json()["error"]["code"] == "not_authenticated"
    client.force_login(django_user_model.objects.create_user(username="mallory", password="x"))
    for url in ("/api/v1/calls", "/api/v1/usage"):
        response = client.get(url)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "not_a_member")


def test_a_call_reads_with_its_transcript_usage_and_end_reason_in_words(logged_in_client, user, tenant):
    now = timezone.now()
    call = make_call(
        tenant, user=user, status=CallStatus.ENDED, connected_at=now - timedelta(seconds=90), ended_at=now,
        end_reason=EndReason.TIME_LIMIT, provider_call_id="rtc_1", input_audio_tokens=100, output_audio_tokens=50,
        cost=Decimal("0.0042"), records_transcript=True,
    )  # fmt: skip
    TranscriptLine.objects.create(call=call, key="i2:0", speaker="assistant", text="Hi!", said_at=now)
    earlier = now - timedelta(seconds=1)
    TranscriptLine.objects.create(call=call, key="i1:0", speaker="user", text="Hello", said_at=earlier)
    body = logged_in_client.get(f"/api/v1/calls/{call.pk}").json()
    assert (body["end_reason"], body["end_reason_text"]) == ("time_limit", "Longest call reached")
    assert body["duration_seconds"] == 90.0
    assert body["usage"]["total_tokens"] == 150
    assert body["cost"] == "0.004200"
    assert [(line["speaker"], line["text"]) for line in body["transcript"]] == [("user", "Hello"), ("assistant", "Hi!")]
    assert "transcript" not in logged_in_client.get("/api/v1/calls").json()["results"][0]


def test_the_list_is_paginated(tenant, speech_settings):
    now = timezone.now()
    for index in range(7):
        make_call(tenant, minted_at=now - timedelta(minutes=index))
    admin = key_client(tenant, KeyScope.ADMIN)
    first = admin.get("/api/v1/calls?page_size=5").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (7, 5, None)
    second = admin.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert admin.get("/api/v1/calls?page=9").json()["error"]["code"] == "not_found"


def test_usage_by_day_and_month(tenant, speech_settings):
    now = timezone.now()
    make_call(tenant, connected_at=now - timedelta(minutes=3), ended_at=now, input_text_tokens=10, cost=Decimal("1"))
    make_call(tenant, minted_at=now - timedelta(days=40), cost=Decimal("2"))
    body = key_client(tenant, KeyScope.ADMIN).get("/api/v1/usage").json()
    assert len(body["days"]) == 30 and len(body["months"]) == 12
    today = body["days"][-1]
    assert (today["calls"], today["minutes"], today["tokens"], today["cost"]) == (1, 3.0, 10, "1.000000")
    assert sum(month["calls"] for month in body["months"]) == 2
    assert body["months"][-1]["start"].startswith(now.strftime("%Y-%m-01"))
    response = key_client(tenant, KeyScope.ADMIN).get("/api/v1/usage?days=0")
    assert response.json()["error"]["code"] == "invalid_request"
