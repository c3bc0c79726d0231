"""The supervisor's reading of sideband events (provider output: every shape may be hostile), and what it sends,
checked against the openai SDK's client event types."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openai.types.realtime import ResponseCancelEvent, ResponseCreateEvent

from speech.calls.models import EndReason
from speech.calls.policy import CallPolicyView
from speech.supervisor.limits import NOTICES, budget_spent, notice_event
from speech.supervisor.session import CallSupervisor, Target


def policy(**fields):
    values = {"record_transcripts": True, "transcript_retention_days": 30, "max_call_seconds": None,
              "idle_seconds": None, "monthly_budget": None, "budget_unit": "minutes", **fields}  # fmt: skip
    return CallPolicyView(**values)


def supervisor(*, records=True, session_id="sess_minted"):
    target = Target(
        call_id="5d0c8c1e-0000-4000-8000-000000000000", tenant_id=1, model="gpt-realtime", provider=None,
        endpoint="https://api.openai.com/v1/realtime/client_secrets", options={}, api_key="sk",
        provider_call_id="rtc_1", provider_session_id=session_id, records_transcript=records,
        connected_at=datetime.now(UTC), policy=policy(),
    )  # fmt: skip
    return CallSupervisor(target=target, stop=None)


def queued(sup):
    return [sup.recorder.queue.get_nowait() for _ in range(sup.recorder.queue.qsize())]


@pytest.mark.parametrize("reason", list(NOTICES))
def test_the_notice_is_a_response_create_event_of_the_sdk(reason):
    event = notice_event(reason, event_id="event_notice_1")
    parsed = ResponseCreateEvent.model_validate(event)
    assert parsed.model_dump(exclude_none=True) == event  # no key the SDK does not know
    assert event["response"]["instructions"] == f"Say exactly: {NOTICES[reason]}"
    ResponseCancelEvent.model_validate({"type": "response.cancel"})


def test_lines_and_usage_are_queued_with_their_keys():
    sup = supervisor()
    for event in [
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u", "content_index": 0,
         "transcript": "hello there"},
        {"type": "conversation.item.done", "item": {"id": "item_t", "type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "typed"}, {"type": "input_text", "text": "two"}]}},
        {"type": "conversation.item.done", "item": {"id": "item_a", "type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "not a user line"}]}},
        {"type": "response.output_audio_transcript.done", "item_id": "item_a", "content_index": 0, "transcript": "hi"},
        {"type": "response.output_text.done", "item_id": "item_b", "content_index": 1, "text": "written"},
        {"type": "response.done", "response": {"id": "resp_1", "usage": {
            "input_token_details": {"text_tokens": 5, "audio_tokens": 7},
            "output_token_details": {"audio_tokens": 9}}}},
    ]:  # fmt: skip
        sup.handle(json.dumps(event))
    jobs = queued(sup)
    assert [(job[1], job[2], job[3]) for job in jobs if job[0] == "line"] == [
        ("item_u:0", "user", "hello there"), ("item_t:0", "user", "typed"), ("item_t:1", "user", "two"),
        ("item_a:0", "assistant", "hi"), ("item_b:1", "assistant", "written"),
    ]  # fmt: skip
    (usage,) = [job for job in jobs if job[0] == "usage"]
    assert usage[1] == "resp_1"
    assert (usage[2].input_text_tokens, usage[2].input_audio_tokens, usage[2].output_audio_tokens) == (5, 7, 9)


def test_without_recording_only_usage_is_queued():
    sup = supervisor(records=False)
    sup.handle(json.dumps({"type": "response.output_audio_transcript.done", "item_id": "i", "content_index": 0,
                           "transcript": "secret"}))  # fmt: skip
    sup.handle(json.dumps({"type": "response.done", "response": {"id": "resp_1"}}))
    assert [job[0] for job in queued(sup)] == ["usage"]


@pytest.mark.parametrize(
    "message",
    [
        "not json", "[1, 2]", "null", "3", '"text"', "[" * 100_000, json.dumps({"type": None}),
        json.dumps({"type": ["response.done"]}),
        json.dumps({"type": "response.done"}), json.dumps({"type": "response.done", "response": []}),
        json.dumps({"type": "response.done", "response": {"id": 7}}),
        json.dumps({"type": "response.done", "response": {"id": "", "usage": {"input_tokens": -1}}}),
        json.dumps({"type": "response.created", "response": "x"}),
        json.dumps({"type": "conversation.item.input_audio_transcription.completed", "item_id": 3, "transcript": "x"}),
        json.dumps({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i",
                    "content_index": True, "transcript": "x"}),
        json.dumps({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i",
                    "content_index": 0, "transcript": {"text": "x"}}),
        json.dumps({"type": "conversation.item.done", "item": {"type": "message", "role": "user", "content": "x"}}),
        json.dumps({"type": "conversation.item.done", "item": {"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "no id"}]}}),
        json.dumps({"type": "session.created", "session": "sess_other"}),
        json.dumps({"type": "session.created", "session": {"id": 42}}),
        json.dumps({"type": "error", "error": "x"}),
    ],
)  # fmt: skip
def test_malformed_events_are_skipped_never_raised(message):
    sup = supervisor()
    sup.handle(message)
    assert queued(sup) == []
    assert not sup.refused


def test_a_session_that_is_not_the_minted_one_is_refused():
    sup = supervisor()
    sup.handle(json.dumps({"type": "session.created", "session": {"id": "sess_minted"}}))
    assert not sup.refused
    sup.handle(json.dumps({"type": "session.updated", "session": {"id": "sess_someone_else"}}))
    assert sup.refused


def test_without_a_minted_session_id_nothing_is_compared():
    sup = supervisor(session_id="")
    sup.handle(json.dumps({"type": "session.created", "session": {"id": "sess_any"}}))
    assert not sup.refused


def test_a_call_records_so_many_lines_then_drops_and_counts_the_rest_but_never_usage(monkeypatch, caplog):
    from prometheus_client import REGISTRY

    from speech.supervisor import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "MAX_LINES_PER_CALL", 3)
    before = REGISTRY.get_sample_value("transcript_lines_dropped_total") or 0.0
    sup = supervisor()

    def typed(n):
        return json.dumps({"type": "conversation.item.done", "item": {"id": f"item_{n}", "type": "message",
                           "role": "user", "content": [{"type": "input_text", "text": f"flood {n}"}]}})  # fmt: skip

    for n in range(6):
        sup.handle(typed(n))
    sup.handle(typed(1))  # one already recorded, seen again after a re-join: still written (once, by its key)
    sup.handle(json.dumps({"type": "response.done", "response": {"id": "resp_1", "usage": {}}}))
    jobs = queued(sup)
    assert [job[1] for job in jobs if job[0] == "line"] == ["item_0:0", "item_1:0", "item_2:0", "item_1:0"]
    assert [job[1] for job in jobs if job[0] == "usage"] == ["resp_1"]
    assert (REGISTRY.get_sample_value("transcript_lines_dropped_total") or 0.0) == before + 3
    assert caplog.text.count("later lines are dropped") == 1


def test_a_long_line_is_cut():
    sup = supervisor()
    sup.handle(json.dumps({"type": "response.output_text.done", "item_id": "i", "content_index": 0,
                           "text": "x" * 100_000}))  # fmt: skip
    assert len(queued(sup)[0][3]) == 20_000


@pytest.mark.parametrize(
    ("unit", "budget", "spent", "reached"),
    [("minutes", "10", "9.99", False), ("minutes", "10", "10", True), ("tokens", "1000", "1001", True),
     ("cost", "5.00", "4.999999", False), ("cost", None, "99999", False)],
)  # fmt: skip
def test_budget_spent(unit, budget, spent, reached):
    budget = Decimal(budget) if budget else None
    assert budget_spent(policy=policy(monthly_budget=budget, budget_unit=unit), spent=Decimal(spent)) is reached


def test_every_limit_and_the_agent_s_end_have_a_notice():
    assert set(NOTICES) == {EndReason.TIME_LIMIT, EndReason.IDLE, EndReason.BUDGET, EndReason.AGENT_ENDED}


def test_a_write_the_database_fails_is_retried_then_given_up_with_a_log_line(monkeypatch, caplog):
    from speech.supervisor import recorder as recorder_module

    written, failures = [], {"left": 1}

    def append(**line):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("the pool is reconnecting")
        written.append(line["key"])

    monkeypatch.setattr(recorder_module, "call_transcript_append", append)
    monkeypatch.setattr(recorder_module, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(recorder_module, "close_old_connections", lambda: None)

    async def scenario():
        recorder = recorder_module.Recorder(call_id="c", model="m")
        recorder.start()
        recorder.line(key="a:0", speaker="user", text="once", said_at=None)  # fails once, then written
        await recorder.flush()
        failures["left"] = recorder_module.WRITE_ATTEMPTS
        recorder.line(key="b:0", speaker="user", text="never", said_at=None)  # fails every time: given up
        recorder.line(key="c:0", speaker="user", text="after", said_at=None)  # the queue goes on
        await recorder.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert written == ["a:0", "c:0"]
    assert "a record could not be written" in caplog.text


def test_calls_of_one_tenant_share_a_reading_of_its_month_and_add_their_own_responses(db, django_assert_num_queries):
    from dataclasses import replace

    from django.utils import timezone

    from settings_admin.models import Tenant
    from speech.calls.models import Call
    from speech.supervisor.session import _budget_spent, budget_readings_clear

    budget_readings_clear()
    tenant = Tenant.objects.create(slug="readings", name="Readings")
    Call.objects.create(tenant=tenant, provider="local", model="m", voice="v", webrtc_mode="direct",
                        minted_at=timezone.now(), input_text_tokens=90)  # fmt: skip
    first = replace(supervisor().target, tenant_id=tenant.pk,
                    policy=policy(monthly_budget=Decimal(100), budget_unit="tokens"))  # fmt: skip
    second = replace(first, call_id="another")
    with django_assert_num_queries(1):
        assert _budget_spent(first, max_age=15) is False
        assert _budget_spent(second, max_age=15) is False  # the same reading
        assert _budget_spent(second, max_age=15, used=Decimal(10)) is True  # 90 + this call's 10
    with django_assert_num_queries(1):
        assert _budget_spent(first, max_age=0) is False  # read afresh: the 10 were never written
    budget_readings_clear()


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(cert_file), str(key_file)


def test_a_wss_sideband_is_verified_against_the_providers_ca_bundle(tmp_path):
    import ssl
    from dataclasses import replace

    from websockets.asyncio.server import serve

    from speech.providers.openai_realtime import OpenAIRealtimeProvider

    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    seen = []

    async def handler(ws):
        seen.append((ws.request.path, ws.request.headers.get("Authorization")))
        await ws.close()

    trusting = OpenAIRealtimeProvider()
    trusting.ca_bundle = cert_file  # as REQUESTS_CA_BUNDLE / SSL_CERT_FILE set it
    untrusting = OpenAIRealtimeProvider()
    untrusting.ca_bundle = None  # the system's store: no such certificate

    async def scenario():
        async with serve(handler, "127.0.0.1", 0, ssl=server_tls) as server:
            endpoint = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime/client_secrets"
            base = replace(supervisor().target, endpoint=endpoint)
            ws = await CallSupervisor(target=replace(base, provider=trusting), stop=None).sideband_open()
            await ws.close()
            with pytest.raises(ssl.SSLCertVerificationError):
                await CallSupervisor(target=replace(base, provider=untrusting), stop=None).sideband_open()

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert seen == [("/v1/realtime?call_id=rtc_1", "Bearer sk")]
