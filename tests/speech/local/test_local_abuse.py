"""A caller of the local provider cannot exhaust it for everyone else: one response at a time, bounded
events, bounded synthesis, bounded buffers, and no call slot held without media."""

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from speech.local import audio, call
from speech.local.audio import MAX_PREFIX_MS, MAX_SILENCE_MS, SPEAK_CONCURRENCY, VoiceActivityDetector, speak
from tests.speech.local.rtc_client import RtcClient
from tests.speech.local.test_local_peer import SESSION, calls_open_after_waiting, run


def typed(text):
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def errors_of(client, code):
    return [e for e in client.received if e["type"] == "error" and e["error"].get("code") == code]


def test_a_second_response_while_one_is_in_progress_is_refused(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send(typed("one two three four five six seven eight"))
        for _ in range(5):
            client.send({"type": "response.create"})
        await client.wait_for("response.done", timeout=30)
        await asyncio.sleep(0.3)
        await client.close()
        return client

    client = run(scenario())
    assert len([e for e in client.received if e["type"] == "response.created"]) == 1
    assert len(errors_of(client, "conversation_already_has_active_response")) == 4


def test_a_flood_of_events_is_answered_with_rate_limit_errors(caller):
    sent = call.EVENT_BURST + 300

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        for _ in range(sent):
            client.send({"type": "input_audio_buffer.clear"})
        await client.wait_for("error", timeout=10)
        await asyncio.sleep(1)
        await client.close()
        return client

    client = run(scenario())
    refused = len(errors_of(client, "rate_limit_exceeded"))
    served = len([e for e in client.received if e["type"] == "input_audio_buffer.cleared"])
    # However fast the events arrive, beyond the burst only the bucket's refill is served.
    assert refused > 0
    assert refused + served == sent
    assert served < sent


def test_an_oversized_event_is_refused_and_a_long_text_is_cut(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send(typed("w" * (call.MAX_EVENT_BYTES + 1000)))
        await client.wait_for("error")
        client.send(typed("word " * 20000))  # 100 KB: taken, but only so much of it is spoken back
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.started", timeout=30)
        client.send({"type": "response.cancel"})  # the transcript's deltas went out before the audio
        said = await client.wait_for("response.output_audio_transcript.done", timeout=30)
        await client.close()
        return client, said

    client, said = run(scenario())
    assert errors_of(client, "invalid_value")
    assert len(said["transcript"]) <= audio.SPEAK_MAX_CHARS
    deltas = [e for e in client.received if e["type"] == "response.output_audio_transcript.delta"]
    assert len(deltas) <= audio.SPEAK_MAX_CHARS // 2


def test_a_call_that_never_sends_audio_gives_its_slot_back(limited):
    caller = limited(LOCAL_REALTIME_FIRST_MEDIA_SECONDS=1)

    async def scenario():
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="recvonly")  # takes the answer's audio, sends none
        channel = pc.createDataChannel("oai-events")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await pc.setLocalDescription(await pc.createOffer())
        response = await caller.post_offer(pc.localDescription.sdp, caller.mint(SESSION))
        assert response.status_code == 201
        await pc.setRemoteDescription(RTCSessionDescription(sdp=response.text, type="answer"))
        await asyncio.wait_for(opened.wait(), 10)
        left = await calls_open_after_waiting(caller.service, 8)
        await pc.close()
        return left

    assert run(scenario()) == 0


@pytest.mark.parametrize(
    ("setting", "value", "attribute", "bound"),
    [
        ("prefix_padding_ms", 10**9, "prefix", MAX_PREFIX_MS),
        ("silence_duration_ms", 10**9, "silence_frames", MAX_SILENCE_MS),
    ],
)
def test_turn_detection_timings_are_bounded(setting, value, attribute, bound):
    detector = VoiceActivityDetector.for_turn_detection({"type": "server_vad", setting: value})
    held = getattr(detector, attribute)
    frames = held.maxlen if attribute == "prefix" else held
    assert frames * 20 <= bound


def test_speech_synthesis_runs_a_bounded_number_of_processes_at_once(monkeypatch):
    active = peak = 0
    synthesize = audio.espeak_run

    async def counting(*args):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return await synthesize(*args)
        finally:
            active -= 1

    monkeypatch.setattr(audio, "espeak_run", counting)

    async def many():
        return await asyncio.gather(*(speak("one two three", voice="verse") for _ in range(3 * SPEAK_CONCURRENCY)))

    spoken = asyncio.run(many())
    assert all(len(samples) > 0 for samples in spoken)
    assert peak == SPEAK_CONCURRENCY


def test_the_event_rate_refills_over_time():
    from speech.local.limits import EventRate

    now = [0.0]
    rate = EventRate(per_second=10, burst=2, clock=lambda: now[0])
    assert [rate.allow() for _ in range(3)] == [True, True, False]
    now[0] += 0.1
    assert rate.allow() is True
