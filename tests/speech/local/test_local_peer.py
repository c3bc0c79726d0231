"""The local peer over real WebRTC: an aiortc client talks to it as a browser would."""

import asyncio
import json
import math
import os
import re
import signal
from pathlib import Path

import numpy as np

from speech.local.audio import tone
from tests.openai_shapes import assert_server_event
from tests.speech.local.rtc_client import RtcClient, silence
from tests.speech.local.speech_samples import espeak_48k, overlap, require_espeak

SESSION = {
    "type": "realtime",
    "model": "local-echo",
    "audio": {"input": {"transcription": {"model": "any"}, "turn_detection": {"type": "server_vad"}}},
}


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def calls_open_after_waiting(service, seconds=5):
    """How many calls the service still has once it had up to `seconds` to close them."""
    return await asyncio.to_thread(service.wait_calls, 0, seconds)


def process_resources(service):
    """Open file descriptors (sockets among them) and threads of the service's process."""
    pid = service.process.pid
    fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    threads = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Threads:")).split()[1])  # fmt: skip
    return fds, threads


def utterance(seconds=0.8):
    return np.concatenate([silence(0.2), tone(seconds), silence(0.8)])


def test_speech_is_detected_and_echoed_back_audibly(caller):
    async def scenario():
        client = RtcClient()
        created = await client.connect(caller.post_offer, caller.mint(SESSION))
        assert created["session"]["model"] == "local-echo"
        client.speak(utterance(0.8))
        started = await client.wait_for("input_audio_buffer.speech_started")
        stopped = await client.wait_for("input_audio_buffer.speech_stopped")
        heard = await client.wait_for("conversation.item.input_audio_transcription.completed")
        transcript = await client.wait_for("response.output_audio_transcript.done")
        done = await client.wait_for("response.done")
        await asyncio.sleep(0.2)
        await client.close()
        return client, started, stopped, heard, transcript, done

    client, started, stopped, heard, transcript, done = run(scenario())
    assert started["item_id"] == stopped["item_id"]
    assert 600 <= stopped["audio_end_ms"] - started["audio_start_ms"] <= 1600
    assert re.fullmatch(r"\[\d\.\d s of speech\]", heard["transcript"])
    assert re.fullmatch(r"Echo of \d\.\d s of your speech", transcript["transcript"])
    assert done["response"]["status"] == "completed"
    assert client.loudest_dbfs > -30, "the echo should be audible"
    for event in client.received:
        assert_server_event(event)


def test_a_typed_message_is_answered_with_speech_and_its_text(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]},
            }
        )
        client.send({"type": "response.create"})
        added = await client.wait_for("conversation.item.added")
        transcript = await client.wait_for("response.output_audio_transcript.done")
        await client.wait_for("output_audio_buffer.stopped")
        await client.close()
        return client, added, transcript

    client, added, transcript = run(scenario())
    assert added["item"]["content"] == [{"type": "input_text", "text": "Hello there"}]
    assert transcript["transcript"] == "Hello there"
    assert client.loudest_dbfs > -40, "the answer should be audible (speech, or a tone without espeak-ng)"


def test_session_update_and_unknown_events(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
        updated = await client.wait_for("session.updated")
        client.send({"type": "no.such.event", "event_id": "evt_1"})
        unknown = await client.wait_for("error")
        client.send("not json")
        malformed = await client.wait_for("error")
        await client.close()
        return updated, unknown, malformed

    updated, unknown, malformed = run(scenario())
    assert updated["session"]["instructions"] == "Be brief."
    assert (unknown["error"]["code"], unknown["error"]["event_id"]) == ("unknown_event", "evt_1")
    assert malformed["error"]["code"] == "invalid_json"


def test_push_to_talk_commits_on_request(caller):
    session = {**SESSION, "audio": {"input": {"turn_detection": None}}}

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(session))
        client.send({"type": "input_audio_buffer.clear"})
        await client.wait_for("input_audio_buffer.cleared")
        await client.speak(tone(0.5))
        client.send({"type": "input_audio_buffer.commit"})
        committed = await client.wait_for("input_audio_buffer.committed")
        client.send({"type": "response.create"})
        transcript = await client.wait_for("response.output_audio_transcript.done")
        await client.close()
        return client, committed, transcript

    client, committed, transcript = run(scenario())
    assert committed["item_id"]
    assert transcript["transcript"].startswith("Echo of ")
    assert not any(e["type"] == "input_audio_buffer.speech_started" for e in client.received)


def test_an_answer_can_be_interrupted(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "a long sentence to be cut off " * 4}],
                },
            }
        )
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.started")
        client.send({"type": "response.cancel"})
        cleared = await client.wait_for("output_audio_buffer.cleared")
        done = await client.wait_for("response.done")
        await client.close()
        return client, cleared, done

    client, cleared, done = run(scenario())
    assert done["response"]["status"] == "cancelled"
    assert cleared["response_id"] == done["response"]["id"]


CHECK_ORDER = {
    "type": "function",
    "name": "check_order",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "integer"}}},
}


def typed(text):
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def kill_recogniser(service):
    """Kills the service's speech-recognition worker (a multiprocessing child of its process)."""
    pid = service.process.pid
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"multiprocessing" in Path(f"/proc/{child}/cmdline").read_bytes():
            os.kill(int(child), signal.SIGKILL)


def emitted_event_types():
    """Every event type the local peer's code can send over WebRTC, read from its source (the WebSocket
    session's own audio events are checked in test_local_openai_sdk.py)."""
    source = "\n".join(p.read_text() for p in Path("speech/local").glob("*.py") if p.name != "websocket.py")
    return set(re.findall(r'events\.event\(\s*"([a-z_.]+)"', source)) | {"error"}


def test_every_event_type_it_can_send_is_an_openai_server_event(caller):
    """Drives every path of the peer and validates all it sends against openai.types.realtime."""

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.speak(utterance(0.5))
        heard = await client.wait_for("conversation.item.done")
        answered = await client.wait_for("response.done")
        await client.wait_for("output_audio_buffer.stopped")
        client.send({"type": "conversation.item.retrieve", "item_id": heard["item"]["id"]})
        answer_id = answered["response"]["output"][0]["id"]
        client.send({"type": "conversation.item.truncate", "item_id": answer_id, "content_index": 0, "audio_end_ms": 0})
        client.send({"type": "session.update", "session": {"type": "realtime", "tools": [CHECK_ORDER]}})
        client.send(typed("check_order order_id=7"))
        client.send({"type": "response.create"})
        called = await client.wait_for("response.done")
        output = {"type": "function_call_output", "call_id": called["response"]["output"][0]["call_id"], "output": "ok"}
        client.send({"type": "conversation.item.create", "item": output})
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.stopped")
        client.send({"type": "conversation.item.delete", "item_id": answer_id})
        client.send({"type": "response.cancel"})
        client.send(typed("in writing"))
        client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await client.wait_for("response.output_text.done")
        client.send({"type": "input_audio_buffer.clear"})
        client.send({"type": "input_audio_buffer.commit"})
        client.send({"type": "bogus"})
        client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x " * 40}]},
            }
        )
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.started")
        client.send({"type": "output_audio_buffer.clear"})
        await client.wait_for("output_audio_buffer.cleared")
        await client.wait_for("response.done")
        kill_recogniser(caller.service)  # the recogniser's worker dies: the turn's transcript fails
        client.speak(utterance(0.5))
        await client.wait_for("conversation.item.input_audio_transcription.failed")
        await client.wait_for("output_audio_buffer.stopped")
        await client.close()
        return client

    client = run(scenario())
    for event in client.received:
        assert_server_event(event)
    assert {event["type"] for event in client.received} >= emitted_event_types()


def test_concurrent_calls_are_bounded(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS=1)

    async def scenario():
        first = RtcClient()
        await first.connect(caller.post_offer, caller.mint(SESSION))
        second = RtcClient()
        await second.pc.setLocalDescription(await second.pc.createOffer())
        refused = await caller.post_offer(second.pc.localDescription.sdp, caller.mint(SESSION))
        await second.close()
        await first.close()
        return refused

    refused = run(scenario())
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_an_idle_call_is_closed(limited):
    caller = limited(LOCAL_REALTIME_IDLE_SECONDS=1)

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        open_calls = await calls_open_after_waiting(caller.service)
        await client.close()
        return open_calls

    assert run(scenario()) == 0


def test_a_call_is_closed_at_its_maximum_length(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALL_SECONDS=1, LOCAL_REALTIME_IDLE_SECONDS=60)

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.speak(np.concatenate([tone(0.3), silence(0.4)] * 5))  # busy, not idle
        open_calls = await calls_open_after_waiting(caller.service)
        await client.close()
        return open_calls

    assert run(scenario()) == 0


def test_a_call_whose_media_stops_is_closed(limited):
    """A closed tab sends nothing more; the call must not wait for the idle timeout."""
    caller = limited(LOCAL_REALTIME_MEDIA_TIMEOUT_SECONDS=0.5)

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.microphone.stop()  # no more RTP, the peer connection itself stays up
        open_calls = await calls_open_after_waiting(caller.service)
        await client.close()
        return open_calls

    assert run(scenario()) == 0


def test_twenty_connect_hang_up_cycles_leave_nothing_behind(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS=9)  # a service of its own: no other test's calls in its counts

    async def cycle():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        await client.close()

    run(cycle())
    run(calls_open_after_waiting(caller.service))
    fds_before, threads_before = process_resources(caller.service)
    for _ in range(20):
        run(cycle())
    assert run(calls_open_after_waiting(caller.service)) == 0
    fds_after, threads_after = process_resources(caller.service)
    # A leak would show once per call (20); the service's recogniser worker may still be finishing its
    # start (a pipe or two) when the first count is taken.
    assert fds_after <= fds_before + 2
    assert threads_after <= threads_before + 1


def test_spoken_words_are_transcribed_kept_in_the_item_and_answered(caller):
    """espeak-ng speech through Opus into the peer: pocketsphinx hears the words, the item keeps them."""
    require_espeak()
    phrase = "please check order one two three"

    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.speak(np.concatenate([silence(0.3), espeak_48k(phrase), silence(1.0)]))
        heard = await client.wait_for("conversation.item.input_audio_transcription.completed", timeout=20)
        client.send({"type": "conversation.item.retrieve", "item_id": heard["item_id"]})
        retrieved = await client.wait_for("conversation.item.retrieved")
        answer = await client.wait_for("response.output_audio_transcript.done", timeout=20)
        await client.wait_for("output_audio_buffer.stopped", timeout=20)
        await client.close()
        return client, heard, retrieved, answer

    client, heard, retrieved, answer = run(scenario())
    assert overlap(heard["transcript"], phrase) >= 3, heard["transcript"]
    assert retrieved["item"]["id"] == heard["item_id"]
    assert retrieved["item"]["content"] == [{"type": "input_audio", "transcript": heard["transcript"]}]
    assert answer["transcript"] == f"You said: {heard['transcript']}"
    for event in client.received:
        assert_server_event(event)


def test_a_cancelled_answer_ends_as_openai_ends_it_with_its_usage(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send(typed("a long sentence to be cut off " * 4))
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.started")
        client.send({"type": "response.cancel"})
        done = await client.wait_for("response.done")
        client.send({"type": "response.cancel", "event_id": "evt_again"})
        again = await client.wait_for("error")
        await client.close()
        return client, done, again

    client, done, again = run(scenario())
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    closing = ("response.output_item.done", "conversation.item.done")
    closed = [e["item"] for e in client.received if e["type"] in closing]
    assert [item["status"] for item in closed if item["role"] == "assistant"] == ["incomplete", "incomplete"]
    usage = done["response"]["usage"]
    assert usage["input_token_details"]["text_tokens"] == math.ceil(len("a long sentence to be cut off " * 4) / 4)
    assert usage["output_token_details"]["audio_tokens"] > 0
    assert (again["error"]["code"], again["error"]["event_id"]) == ("response_cancel_not_active", "evt_again")


def test_a_function_tool_is_called_and_its_output_spoken(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        # As the SDKs do: tools come with a session.update (the local mint keeps no tools yet).
        client.send({"type": "session.update", "session": {"type": "realtime", "tools": [CHECK_ORDER]}})
        await client.wait_for("session.updated")
        client.send(typed("Could you check_order order_id=42 please?"))
        client.send({"type": "response.create"})
        arguments = await client.wait_for("response.function_call_arguments.done")
        called = await client.wait_for("response.done")
        output = {"type": "function_call_output", "call_id": arguments["call_id"], "output": "shipped on Monday"}
        client.send({"type": "conversation.item.create", "item": output})
        client.send({"type": "response.create"})
        answer = await client.wait_for("response.output_audio_transcript.done")
        await client.wait_for("output_audio_buffer.stopped")
        await client.close()
        return arguments, called, answer

    arguments, called, answer = run(scenario())
    assert (arguments["name"], json.loads(arguments["arguments"])) == ("check_order", {"order_id": 42})
    assert called["response"]["output"][0]["type"] == "function_call"
    assert "shipped on Monday" in answer["transcript"]


def test_malformed_events_do_not_break_the_call(caller):
    async def scenario():
        client = RtcClient()
        await client.connect(caller.post_offer, caller.mint(SESSION))
        client.send({"type": {"not": "a string"}})
        client.send({"type": "session.update", "session": {"type": "realtime", "audio": "loud"}})
        client.send({"type": "session.update", "session": {"audio": {"input": {"turn_detection": "always"}}}})
        client.send({"type": "conversation.item.retrieve", "item_id": ["item_1"]})
        client.send(typed("still here"))
        client.send({"type": "response.create"})
        answer = await client.wait_for("response.output_audio_transcript.done")
        client.speak(utterance(0.5))  # and it still hears turns
        await client.wait_for("input_audio_buffer.speech_stopped")
        await client.close()
        return client, answer

    client, answer = run(scenario())
    assert answer["transcript"] == "still here"
    codes = [e["error"]["code"] for e in client.received if e["type"] == "error"]
    assert codes == ["invalid_json", "invalid_type", "invalid_type", "item_retrieve_invalid_item_id"]
