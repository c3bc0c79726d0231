"""call_supervise() against the real local provider process: records, limits, faults."""

import asyncio
from datetime import timedelta

import numpy as np
from asgiref.sync import sync_to_async
from django.utils import timezone

from speech.calls.models import Call, CallStatus, EndReason, ResponseUsage, Speaker, TranscriptLine
from speech.supervisor import session as session_module
from speech.supervisor.limits import NOTICES
from tests.parts import TcpProxy
from tests.speech.local.rtc_client import silence
from tests.speech.local.speech_samples import espeak_48k, require_espeak

from .conftest import metric, run, until


def lines(call):
    return list(TranscriptLine.objects.filter(call=call).values_list("speaker", "text", "key"))


def test_a_call_is_recorded_and_ends_hung_up_when_the_user_hangs_up(supervised):
    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        supervised.say("Hello there")
        await rtc.wait_for("response.done")
        supervised.say("Second line")
        await rtc.wait_for("response.done")
        await until(lambda: ResponseUsage.objects.filter(call=call).count() == 2)
        await until(lambda: TranscriptLine.objects.filter(call=call).count() == 4)
        await rtc.close()  # the user hangs up: the provider closes the sideband, and knows the call no more
        await asyncio.wait_for(task, 15)
        return call, rtc

    call, rtc = run(scenario())
    call.refresh_from_db()
    assert call.status == CallStatus.ENDED
    assert call.end_reason == EndReason.HUNG_UP
    recorded = lines(call)
    assert [(speaker, text) for speaker, text, _ in recorded] == [
        (Speaker.USER, "Hello there"), (Speaker.ASSISTANT, "Hello there"),
        (Speaker.USER, "Second line"), (Speaker.ASSISTANT, "Second line"),
    ]  # fmt: skip
    # Keyed by the provider's item id and content index, as the data channel saw them.
    done = [e for e in rtc.received if e["type"] == "response.output_audio_transcript.done"]
    assert recorded[1][2] == f"{done[0]['item_id']}:0"
    # Usage: one row per response.done, the call's totals their sum, as the provider counted them.
    usages = [e["response"]["usage"] for e in rtc.received if e["type"] == "response.done"]
    assert set(ResponseUsage.objects.filter(call=call).values_list("response_id", flat=True)) == {
        e["response"]["id"] for e in rtc.received if e["type"] == "response.done"
    }
    assert call.output_audio_tokens == sum(u["output_token_details"]["audio_tokens"] for u in usages) > 0
    assert call.input_text_tokens == sum(u["input_token_details"]["text_tokens"] for u in usages) > 0


def test_spoken_words_are_recorded_from_the_transcription(supervised):
    require_espeak()

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        rtc.speak(np.concatenate([silence(0.3), espeak_48k("please check order one two three"), silence(0.8)]))
        completed = await rtc.wait_for("conversation.item.input_audio_transcription.completed", 20)
        await rtc.wait_for("response.done", 20)
        await until(lambda: TranscriptLine.objects.filter(call=call, speaker=Speaker.ASSISTANT).exists())
        await rtc.close()
        await asyncio.wait_for(task, 15)
        return call, completed

    call, completed = run(scenario())
    user = TranscriptLine.objects.get(call=call, speaker=Speaker.USER)
    assert (user.key, user.text) == (f"{completed['item_id']}:0", completed["transcript"])


def test_without_recording_no_line_is_kept_but_usage_is(supervised):
    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)(records_transcript=False)
        task = await supervised.supervise(call)
        supervised.say("Private words")
        await rtc.wait_for("response.done")
        await until(lambda: ResponseUsage.objects.filter(call=call).exists())
        await rtc.close()
        await asyncio.wait_for(task, 15)
        return call

    call = run(scenario())
    assert not TranscriptLine.objects.filter(call=call).exists()
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.HUNG_UP


def test_at_the_time_limit_the_notice_is_spoken_then_the_call_is_hung_up(supervised):
    supervised.policy(max_call_seconds=2)

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        notice = await rtc.wait_for("response.output_audio_transcript.done", 15)
        await asyncio.wait_for(task, 20)
        await rtc.close()  # in the loop it was opened in (a later asyncio.run would be another loop)
        return call, rtc, notice

    call, rtc, notice = run(scenario())
    assert notice["transcript"] == NOTICES[EndReason.TIME_LIMIT]
    assert any(e["type"] == "response.done" for e in rtc.received)  # said whole before the hang-up
    # Before the notice, the user's speech was told to neither cut it off nor start an answer of its own.
    kinds = [e["type"] for e in rtc.received]
    [quieted] = [e for e in rtc.received if e["type"] == "session.updated"]
    turn_detection = quieted["session"]["audio"]["input"]["turn_detection"]
    assert (turn_detection["type"], turn_detection["create_response"], turn_detection["interrupt_response"]) == (
        "server_vad", False, False)  # fmt: skip
    assert kinds.index("session.updated") < kinds.index("response.created")
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.ENDED, EndReason.TIME_LIMIT)
    assert not supervised.provider_has_call()  # hung up at the provider
    assert TranscriptLine.objects.get(call=call).text == NOTICES[EndReason.TIME_LIMIT]


def test_a_response_in_progress_is_cut_short_for_the_notice(supervised, monkeypatch):
    supervised.policy(max_call_seconds=3)

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        await asyncio.sleep(1.5)
        supervised.say("A long answer " * 30)  # still being spoken when the limit comes
        await asyncio.wait_for(task, 25)
        await rtc.close()
        return call, rtc

    call, rtc = run(scenario())
    done = [e["response"] for e in rtc.received if e["type"] == "response.done"]
    assert done[0]["status"] == "cancelled"
    assert done[1]["metadata"] == {"gateway_notice": "time_limit"}
    assert done[1]["output"][0]["content"][0]["transcript"] == NOTICES[EndReason.TIME_LIMIT]
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.TIME_LIMIT


def test_a_notice_refused_for_a_response_begun_meanwhile_is_asked_again(supervised, monkeypatch):
    """The answer to the user's last turn may begin between the supervisor's look and its notice."""
    supervised.policy(max_call_seconds=3)
    cut_short = session_module.CallSupervisor._cut_short
    looks = []

    async def late_first_look(self, *, busy):  # the first look misses the answer in progress
        looks.append(busy)
        if len(looks) > 1:
            await cut_short(self, busy=busy)

    monkeypatch.setattr(session_module.CallSupervisor, "_cut_short", late_first_look)

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        await asyncio.sleep(1.5)
        supervised.say("A long answer " * 30)  # still being spoken when the limit comes
        await asyncio.wait_for(task, 25)
        await rtc.close()
        return call, rtc

    call, rtc = run(scenario())
    assert looks == [False, True]
    [refused] = [e["error"] for e in rtc.received if e["type"] == "error"]
    assert refused["code"] == "conversation_already_has_active_response"
    assert refused["event_id"].startswith("event_notice_")
    done = [e["response"] for e in rtc.received if e["type"] == "response.done"]
    assert [response["status"] for response in done] == ["cancelled", "completed"]
    assert done[1]["output"][0]["content"][0]["transcript"] == NOTICES[EndReason.TIME_LIMIT]
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.TIME_LIMIT
    assert TranscriptLine.objects.filter(call=call, text=NOTICES[EndReason.TIME_LIMIT]).exists()


def test_an_idle_call_is_ended_idle(supervised):
    supervised.policy(idle_seconds=1)

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        await asyncio.wait_for(task, 20)
        await rtc.close()
        return call, rtc

    call, rtc = run(scenario())
    notices = [e["transcript"] for e in rtc.received if e["type"] == "response.output_audio_transcript.done"]
    assert notices == [NOTICES[EndReason.IDLE]]
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.IDLE
    assert not supervised.provider_has_call()


def test_a_spent_token_budget_ends_the_call_after_the_response_that_spent_it(supervised):
    supervised.policy(monthly_budget=1, budget_unit="tokens")

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        supervised.say("Spend it")
        await asyncio.wait_for(task, 25)
        await rtc.close()
        return call, rtc

    call, rtc = run(scenario())
    said = [e["transcript"] for e in rtc.received if e["type"] == "response.output_audio_transcript.done"]
    assert said == ["Spend it", NOTICES[EndReason.BUDGET]]
    call.refresh_from_db()
    assert call.end_reason == EndReason.BUDGET
    assert ResponseUsage.objects.filter(call=call).count() == 2  # the notice's usage counts too


def test_a_budget_spent_by_earlier_calls_this_month_ends_the_call_at_once(supervised):
    supervised.policy(monthly_budget=1, budget_unit="minutes")
    earlier = timezone.now() - timedelta(minutes=3)
    if earlier.month == timezone.now().month:
        supervised.call_create(provider_call_id="", status=CallStatus.ENDED, minted_at=earlier, connected_at=earlier,
                               ended_at=earlier + timedelta(minutes=2), end_reason=EndReason.HUNG_UP)  # fmt: skip
    else:  # just after midnight on the 1st: a call still running counts up to now
        supervised.policy(monthly_budget=0, budget_unit="minutes")

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        notice = await rtc.wait_for("response.output_audio_transcript.done", 15)
        await asyncio.wait_for(task, 20)
        await rtc.close()
        return call, notice

    call, notice = run(scenario())
    assert notice["transcript"] == NOTICES[EndReason.BUDGET]
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.BUDGET


def test_stop_returns_and_leaves_the_call_running(supervised):
    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        stop = asyncio.Event()
        task = await supervised.supervise(call, stop)
        stop.set()
        await asyncio.wait_for(task, 10)
        supervised.say("Still here")  # the call goes on without its supervisor
        await rtc.wait_for("response.done")
        running = await asyncio.to_thread(supervised.provider_has_call)
        await rtc.close()
        return call, running

    call, running = run(scenario())
    assert running
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.ended_at) == (CallStatus.ACTIVE, "", None)
    assert not TranscriptLine.objects.filter(call=call, text="Still here").exists()


def test_a_dropped_sideband_is_rejoined_and_nothing_is_lost_or_doubled(supervised, settings):
    proxy = TcpProxy(("127.0.0.1", supervised.service.port)).restore()
    settings.LOCAL_REALTIME_URL = f"http://127.0.0.1:{proxy.port}/v1"
    reconnects = metric("sideband_reconnects_total")

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        supervised.say("Before the drop")
        await rtc.wait_for("response.done")
        await until(lambda: TranscriptLine.objects.filter(call=call).count() == 2)
        proxy.cut()
        proxy.restore()
        deadline = asyncio.get_running_loop().time() + 15
        while metric("sideband_reconnects_total") == reconnects:
            assert asyncio.get_running_loop().time() < deadline, "not re-joined"
            await asyncio.sleep(0.05)
        supervised.say("After the drop")
        await rtc.wait_for("response.done")
        await until(lambda: TranscriptLine.objects.filter(call=call).count() == 4)
        await rtc.close()
        await asyncio.wait_for(task, 15)
        return call

    try:
        call = run(scenario())
    finally:
        proxy.cut()
    assert [text for _, text, _ in lines(call)] == ["Before the drop"] * 2 + ["After the drop"] * 2
    assert ResponseUsage.objects.filter(call=call).count() == 2
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.HUNG_UP


def test_a_sideband_that_cannot_be_rejoined_loses_the_call(supervised, settings, monkeypatch):
    monkeypatch.setattr(session_module, "REJOIN_ATTEMPTS", 2)
    monkeypatch.setattr(session_module, "BACKOFF_SECONDS", 0.05)
    proxy = TcpProxy(("127.0.0.1", supervised.service.port)).restore()
    settings.LOCAL_REALTIME_URL = f"http://127.0.0.1:{proxy.port}/v1"

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        task = await supervised.supervise(call)
        proxy.cut()  # and never back
        await asyncio.wait_for(task, 60)
        await rtc.close()
        return call

    call = run(scenario(), seconds=90)
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.SUPERVISOR_LOST


def test_a_call_of_another_session_is_refused_and_left_alone(supervised):
    refused = metric("calls_refused_total")

    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)(
            provider_session_id="sess_minted_for_another_call"
        )
        await asyncio.wait_for(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()), 15)
        running = await asyncio.to_thread(supervised.provider_has_call)
        await rtc.close()
        return call, running

    call, running = run(scenario())
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.NOT_OWNED
    assert running  # not the gateway's to hang up
    assert metric("calls_refused_total") == refused + 1


def test_a_call_the_provider_does_not_know_ends_hung_up(supervised):
    call = supervised.call_create(provider_call_id="rtc_" + "0" * 16)
    run(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()))
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.HUNG_UP


def test_a_refused_server_key_ends_the_call_as_a_provider_error(supervised, settings, caplog):
    async def scenario():
        rtc = await supervised.open()
        call = await sync_to_async(supervised.call_create, thread_sensitive=True)()
        settings.LOCAL_REALTIME_API_KEY = "sk-local-not-the-services-master-key"  # derives a key it refuses
        await asyncio.wait_for(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()), 15)
        await rtc.close()
        return call

    call = run(scenario())
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.PROVIDER_ERROR
    assert "refused the server key (HTTP 401)" in caplog.text


def test_an_endpoint_the_operator_does_not_allow_gets_no_key(supervised, caplog):
    from settings_admin.models import SpeechSettings

    SpeechSettings.objects.filter(tenant=supervised.tenant).update(
        endpoint="http://127.0.0.2:9/v1/realtime/client_secrets"
    )
    call = supervised.call_create(provider_call_id="rtc_" + "1" * 16)
    unsupervised = metric("calls_unsupervised_total", reason="provider_error")
    run(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()))
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.PROVIDER_ERROR
    assert "not on a host the operator allows" in caplog.text
    assert metric("calls_unsupervised_total", reason="provider_error") == unsupervised + 1


def test_calls_without_a_call_id_or_already_ended_are_left_as_they_are(supervised, caplog):
    waiting = supervised.call_create(provider_call_id="", status=CallStatus.MINTED, connected_at=None)
    ended = supervised.call_create(provider_call_id="rtc_" + "2" * 16, status=CallStatus.ENDED,
                                   end_reason=EndReason.IDLE, ended_at=timezone.now())  # fmt: skip
    for call in (waiting, ended):
        run(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()))
    assert Call.objects.get(pk=waiting.pk).status == CallStatus.MINTED
    assert Call.objects.get(pk=ended.pk).end_reason == EndReason.IDLE
    for unknown in ("00000000-0000-0000-0000-000000000000", "not-a-call", "' OR 1=1 --"):
        run(session_module.call_supervise(call_id=unknown, stop=asyncio.Event()))
    assert "could not be loaded" not in caplog.text


def test_stop_does_not_wait_for_a_handshake_that_hangs(supervised, settings):
    import socket

    silent = socket.socket()  # listens, never answers: the handshake would wait its whole timeout
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings.LOCAL_REALTIME_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    call = supervised.call_create(provider_call_id="rtc_" + "3" * 16)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.ensure_future(session_module.call_supervise(call_id=str(call.pk), stop=stop))
        await asyncio.sleep(0.5)
        assert not task.done()
        started = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(task, 5)
        return asyncio.get_running_loop().time() - started

    try:
        took = run(scenario())
    finally:
        silent.close()
    assert took < 1
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.ACTIVE, "")


def test_a_sideband_that_drops_at_once_every_time_is_not_rejoined_for_ever(supervised, settings, monkeypatch):
    from websockets.asyncio.server import serve

    monkeypatch.setattr(session_module, "REJOIN_ATTEMPTS", 3)
    monkeypatch.setattr(session_module, "BACKOFF_SECONDS", 0.05)
    joins = []

    async def drop(ws):
        joins.append(ws.request.path)
        await ws.close()

    async def scenario():
        async with serve(drop, "127.0.0.1", 0) as server:
            settings.LOCAL_REALTIME_URL = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
            call = await sync_to_async(supervised.call_create, thread_sensitive=True)(
                provider_call_id="rtc_" + "4" * 16
            )
            await asyncio.wait_for(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()), 20)
            return call

    call = run(scenario())
    assert len(joins) == 4  # the first join and three re-joins, each after a longer pause
    assert joins[0] == "/v1/realtime?call_id=rtc_" + "4" * 16
    assert Call.objects.get(pk=call.pk).end_reason == EndReason.SUPERVISOR_LOST


def test_a_provider_interface_without_a_sideband_is_skipped_and_the_call_left_running(
    transactional_db, speech_settings, caplog
):
    import responses

    from settings_admin.models import SpeechSettings

    SpeechSettings.objects.filter(pk=speech_settings.pk).update(
        options={"interface": "beta"}, endpoint="https://api.openai.com/v1/realtime/sessions"
    )
    call = Call.objects.create(
        tenant=speech_settings.tenant, provider="openai_realtime", model="gpt-realtime", voice="verse",
        webrtc_mode="direct", provider_call_id="rtc_beta", status=CallStatus.ACTIVE, minted_at=timezone.now(),
        connected_at=timezone.now(),
    )  # fmt: skip
    skipped = metric("calls_unsupervised_total", reason="no_sideband")
    with responses.RequestsMock():  # nothing is asked of the provider
        run(session_module.call_supervise(call_id=str(call.pk), stop=asyncio.Event()))
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (CallStatus.ACTIVE, "")
    assert metric("calls_unsupervised_total", reason="no_sideband") == skipped + 1
    assert "not supervised: The beta interface has no sideband" in caplog.text
