"""No tenant can starve another: every provider call ends within its deadline, reads a bounded answer,
and only so many are in flight per tenant; against a real misbehaving upstream on loopback."""

import json
import threading
import time

import pytest
from django.db import connections

from settings_admin.models import SpeechSettings, Tenant
from speech import errors
from speech.providers.base import SessionConfig
from speech.providers.deadline import Deadline, Watchdog
from speech.providers.openai_realtime import OpenAIRealtimeProvider, ProviderAnswer
from speech.services import Actor, SessionRequest, realtime_call_create, realtime_session_create
from speech.upstream import upstream_in_flight
from tests.conftest import SERVER_KEY
from tests.hostile_upstream import HostileUpstream

DEADLINE = 1.0
OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture
def upstream(settings):
    settings.SPEECH_PROVIDER_DEADLINE_SECONDS = DEADLINE
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1"]  # the operator's allow-list (when it lands)
    with HostileUpstream() as server:
        yield server


def ends_within(seconds, call):
    """Run `call` in a thread: (its exception or None, how long it took); fails if it still runs after `seconds`."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["result"] = call()
        except Exception as exc:  # noqa: BLE001  (the outcome under test)
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call still runs after {seconds} s"
    return outcome.get("error"), outcome["seconds"]


def mint(endpoint):
    config = SessionConfig(model="gpt-realtime", voice="verse", endpoint=endpoint)
    return lambda: OpenAIRealtimeProvider().create_session(api_key=SERVER_KEY, config=config)


def call(endpoint):
    config = SessionConfig(model="gpt-realtime", voice="verse", endpoint=endpoint)
    return lambda: OpenAIRealtimeProvider().create_call(api_key=SERVER_KEY, config=config, offer_sdp=OFFER)


# --- the deadline and the size cap ------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "error", "within"),
    [
        ("trickle-head", errors.ProviderTimeout, DEADLINE + 0.5),  # never gets past its headers
        ("trickle-body", errors.ProviderTimeout, DEADLINE + 0.5),
        ("silent", errors.ProviderTimeout, DEADLINE + 0.5),
        ("stall", errors.ProviderTimeout, DEADLINE + 0.5),  # stalls after the headers
        ("huge-chunked", errors.ProviderResponseTooLarge, DEADLINE),  # stops reading past the cap
        ("huge-close", errors.ProviderResponseTooLarge, DEADLINE),
        ("huge-length", errors.ProviderResponseTooLarge, 0.5),  # refused on its Content-Length, unread
    ],
)
@pytest.mark.parametrize("kind", [mint, call])
def test_every_call_ends_in_bounded_time_with_its_code(upstream, kind, behaviour, error, within):
    failure, seconds = ends_within(within + 2, kind(upstream.endpoint(behaviour)))
    assert type(failure) is error
    assert seconds < within


def test_the_size_cap_is_a_setting_and_a_bad_response(upstream, settings):
    settings.SPEECH_PROVIDER_MAX_RESPONSE_BYTES = 100  # a mint answer is larger
    failure, _ = ends_within(3, mint(upstream.endpoint("ok")))
    assert isinstance(failure, errors.ProviderBadResponse)
    assert failure.code == "provider_response_too_large"
    settings.SPEECH_PROVIDER_MAX_RESPONSE_BYTES = 4096
    assert mint(upstream.endpoint("ok"))().client_secret == "ek_hostile_ok"


def test_a_deeply_nested_answer_is_a_bad_response():
    answer = ProviderAnswer(status_code=200, headers={}, content=b"[" * 200_000)
    with pytest.raises(errors.ProviderBadResponse):
        OpenAIRealtimeProvider().json_body(answer)


def test_a_finished_calls_deadline_leaves_its_pooled_connection_alone(upstream, settings):
    settings.SPEECH_PROVIDER_DEADLINE_SECONDS = 0.2
    provider = OpenAIRealtimeProvider()
    config = SessionConfig(model="gpt-realtime", voice="verse", endpoint=upstream.endpoint("ok"))
    assert provider.create_session(api_key=SERVER_KEY, config=config).client_secret == "ek_hostile_ok"
    time.sleep(0.4)  # past the first call's deadline: the watchdog has seen it
    assert provider.create_session(api_key=SERVER_KEY, config=config).client_secret == "ek_hostile_ok"
    assert len(upstream.requests) == 2


def test_a_sooner_deadline_wakes_the_watchdog():
    watchdog = Watchdog()
    with Deadline(30, watchdog=watchdog) as late, Deadline(0.1, watchdog=watchdog) as soon:
        limit = time.monotonic() + 2
        while not soon.expired and time.monotonic() < limit:
            time.sleep(0.01)
        assert soon.expired and not late.expired


# --- the concurrency limits, through the service ---------------------------------------------


def tenant_on(slug, endpoint):
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug, "shared_credentials": True})
    speech_settings, _ = SpeechSettings.objects.get_or_create(tenant=tenant)
    speech_settings.provider, speech_settings.model, speech_settings.voice = "openai_realtime", "gpt-realtime", "verse"
    speech_settings.endpoint = endpoint
    speech_settings.save()
    return speech_settings


def session(speech_settings):
    return lambda: realtime_session_create(speech_settings=speech_settings, actor=Actor(), requested=SessionRequest())


def in_thread(call, results):
    def run():
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001  (shown by the assertion that reads the results)
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_tenant_past_its_limit_is_refused_at_once_and_another_still_mints(upstream, settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    settings.SPEECH_PROVIDER_CALLS_PER_TENANT = 2
    settings.SPEECH_PROVIDER_DEADLINE_SECONDS = 10
    slow = tenant_on("slow", upstream.endpoint("hold"))
    other = tenant_on("other", upstream.endpoint("ok"))
    held = []
    threads = [in_thread(session(slow), held) for _ in range(2)]
    for _ in threads:  # both calls are at the upstream, holding their slots
        assert upstream.held.acquire(timeout=5)

    for attempt in (session(slow), lambda: realtime_call_create_for(slow)):
        refused, seconds = ends_within(2, attempt)
        assert isinstance(refused, errors.TenantProviderCallsLimited)
        assert (refused.code, refused.status, refused.retry_after) == ("provider_calls_limited", 429, 1)
        assert seconds < 0.5
    other_error, _ = ends_within(3, session(other))
    assert other_error is None
    assert upstream_in_flight(tenant_id=slow.tenant_id) == 2

    for answered in (1, 2):  # one at a time: SQLite takes one writer of audit rows at a time
        upstream.release()  # lets one held call answer, whichever thread made it
        deadline = time.monotonic() + 5
        while len(held) < answered and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(5)
    assert [payload.minted.client_secret for payload in held] == ["ek_hostile_ok"] * 2
    assert upstream_in_flight() == 0
    upstream.release()  # the next one may answer at once
    assert ends_within(3, session(slow))[0] is None  # the slots are free again


def realtime_call_create_for(speech_settings):
    speech_settings.webrtc_mode = "unified"
    return realtime_call_create(
        speech_settings=speech_settings, actor=Actor(), requested=SessionRequest(), offer_sdp=OFFER
    )


@pytest.mark.django_db(transaction=True)
def test_past_the_process_wide_limit_every_tenant_is_refused(upstream, settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    settings.SPEECH_PROVIDER_CALLS = 1
    settings.SPEECH_PROVIDER_DEADLINE_SECONDS = 10
    slow = tenant_on("slow", upstream.endpoint("hold"))
    other = tenant_on("other", upstream.endpoint("ok"))
    held = []
    thread = in_thread(session(slow), held)
    assert upstream.held.acquire(timeout=5)

    refused, seconds = ends_within(2, session(other))
    assert isinstance(refused, errors.ServerBusy)
    assert (refused.code, refused.status, refused.retry_after) == ("server_busy", 503, 1)
    assert seconds < 0.5

    upstream.release()
    thread.join(5)
    assert ends_within(3, session(other))[0] is None


@pytest.mark.django_db
def test_the_refusal_is_a_named_json_answer_with_retry_after(logged_in_client, speech_settings, settings):
    settings.SPEECH_PROVIDER_CALLS_PER_TENANT = 0
    response = logged_in_client.post("/api/v1/realtime_session", data="{}", content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "provider_calls_limited"
    assert response["Retry-After"] == "1"
    assert json.loads(response.content)["error"]["message"]


@pytest.mark.django_db
def test_a_trickling_provider_answers_provider_timeout_through_the_api(logged_in_client, speech_settings, upstream):
    speech_settings.endpoint = upstream.endpoint("trickle-head")
    speech_settings.save()
    # In this thread (the test database's connection is this thread's); a timer ends the trickle if the call does not.
    guard = threading.Timer(DEADLINE + 3, upstream.stop.set)
    guard.start()
    started = time.monotonic()
    response = logged_in_client.post("/api/v1/realtime_session", data="{}", content_type="application/json")
    seconds = time.monotonic() - started
    guard.cancel()
    assert seconds < DEADLINE + 0.5
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"


@pytest.mark.django_db(transaction=True)
def test_a_provider_call_holds_no_database_connection(monkeypatch):
    from django.db import connection

    from speech.upstream import upstream_slot

    given_back = []
    close = connection.close
    monkeypatch.setattr(connection, "close", lambda: given_back.append(True) or close())
    connection.ensure_connection()
    with upstream_slot(tenant_id=1):
        # Given back (to the pool, under PostgreSQL) while the provider works; SQLite's in-memory test
        # database keeps its one connection whatever close() says.
        assert given_back == [True]
