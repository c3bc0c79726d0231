"""The official `openai` Python SDK against the running local service: every method of
client.realtime.client_secrets, client.realtime.calls and client.realtime.connect (model and call_id).
Every server event received validates against openai.types.realtime, with no key at any depth beyond them."""

import asyncio
import base64
import json
import threading
import time

import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.realtime import ClientSecretCreateResponse
from websockets.exceptions import InvalidStatus

from speech.local.audio import level_dbfs, tone
from tests.openai_shapes import assert_server_event
from tests.speech.local.rtc_client import RtcClient, offer_sdp, silence

SESSION = {"type": "realtime", "model": "local-echo"}
PCM_RATE = 24000


def client_for(service, key):
    return OpenAI(api_key=key, base_url=service.v1, max_retries=0, timeout=20)


def pcm16(samples_48k):
    """48 kHz int16 samples as OpenAI's base64 PCM16 at 24 kHz."""
    return base64.b64encode(samples_48k[::2].astype("<i2").tobytes()).decode()


def receive_until(connection, event_type, received, timeout=15):
    """Server events as raw dicts, each validated, until one of `event_type` (the connection is closed, and so
    the wait ends, after `timeout` seconds)."""
    watchdog = threading.Timer(timeout, connection.close)
    watchdog.start()
    try:
        while True:
            try:
                event = json.loads(connection.recv_bytes())
            except Exception as exc:
                raise AssertionError(f"no {event_type}; got {[e['type'] for e in received]}") from exc
            assert_server_event(event)
            received.append(event)
            if event["type"] == event_type:
                return event
    finally:
        watchdog.cancel()


# --- client.audio.speech (voice previews) ------------------------------------------------------------------------


def _wav_samples(audio):
    import io
    import wave

    with wave.open(io.BytesIO(audio)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, PCM_RATE)
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def test_audio_speech_create_speaks_with_espeak_ng(caller):
    client = client_for(caller.service, caller.key())
    answer = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="cedar", input="Hello from the local provider.", response_format="wav"
    )
    samples = _wav_samples(answer.content)
    assert len(samples) > PCM_RATE  # over a second of speech
    assert level_dbfs(samples) > -40


def test_audio_speech_create_faster_is_shorter(caller):
    client = client_for(caller.service, caller.key())
    text = "One two three four five six seven."
    normal = client.audio.speech.create(model="tts-1", voice="verse", input=text, response_format="wav")
    fast = client.audio.speech.create(model="tts-1", voice="verse", input=text, response_format="wav", speed=2.0)
    assert len(_wav_samples(fast.content)) < 0.75 * len(_wav_samples(normal.content))


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"response_format": "mp3"}, "response_format"),
        ({"voice": {"id": "voice_1234"}}, "voice"),
        ({"model": "local-echo"}, "model"),
        ({"speed": 9.0}, "speed"),
        ({"input": ""}, "input"),
        ({"stream_format": "sse"}, "stream_format"),
    ],
)
def test_audio_speech_create_refuses_what_it_cannot_speak(caller, arguments, param):
    client = client_for(caller.service, caller.key())
    request = {"model": "gpt-4o-mini-tts", "voice": "verse", "input": "Hi.", "response_format": "wav", **arguments}
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(**request)
    assert raised.value.param == param


# 4,096 characters (OpenAI's limit) of plain English: about four and a half minutes at speed 1.0.
LONGEST_INPUT = ("The quick brown fox jumps over the lazy dog. " * 100)[:4096]


def test_audio_speech_create_speaks_all_of_the_longest_input(caller):
    client = client_for(caller.service, caller.key())
    answer = client.audio.speech.create(model="tts-1", voice="verse", input=LONGEST_INPUT, response_format="wav")
    # All of it: half of it (the 2,000 characters a realtime reply is cut to) is some 137 s.
    assert len(_wav_samples(answer.content)) / PCM_RATE > 250


def test_audio_speech_create_refuses_input_it_would_not_say_whole(caller):
    client = client_for(caller.service, caller.key())
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="verse", input=LONGEST_INPUT, response_format="wav", speed=0.25)
    assert (raised.value.code, raised.value.param) == ("invalid_value", "input")
    assert "300 s" in raised.value.message


def test_audio_speech_create_with_a_wrong_key_raises_authentication_error(caller):
    with pytest.raises(openai.AuthenticationError):
        client_for(caller.service, "sk-wrong").audio.speech.create(model="tts-1", voice="verse", input="Hi.")


# --- client.realtime.client_secrets -----------------------------------------------------------------------------


def test_client_secrets_create(caller):
    client = client_for(caller.service, caller.key())
    answer = client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 300},
        session={"type": "realtime", "model": "local-echo", "audio": {"output": {"voice": "marin"}}},
    )
    assert isinstance(answer, ClientSecretCreateResponse)
    assert answer.value.startswith("ek_local_")
    assert abs(answer.expires_at - (time.time() + 300)) < 5
    assert answer.session.audio.output.voice == "marin"


def test_client_secrets_create_with_a_wrong_key_raises_authentication_error(caller):
    with pytest.raises(openai.AuthenticationError) as raised:
        client_for(caller.service, "sk-wrong").realtime.client_secrets.create(session=SESSION)
    assert raised.value.code == "invalid_api_key"


def test_client_secrets_create_for_another_model_raises_bad_request(caller):
    with pytest.raises(openai.BadRequestError) as raised:
        client_for(caller.service, caller.key()).realtime.client_secrets.create(
            session={"type": "realtime", "model": "gpt-realtime"}
        )
    assert raised.value.code == "model_not_found"


# --- client.realtime.calls ------------------------------------------------------------------------------------


def test_calls_create_with_raw_sdp_and_hangup(caller):
    client = client_for(caller.service, caller.key())
    created = client.realtime.calls.with_raw_response.create(sdp=asyncio.run(offer_sdp()))
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/sdp")
    assert created.content.decode().startswith("v=0")
    call_id = created.headers["location"].rsplit("/", 1)[-1]
    assert client.realtime.calls.hangup(call_id) is None
    with pytest.raises(openai.NotFoundError):
        client.realtime.calls.hangup(call_id)


def test_calls_create_multipart_with_a_session(caller):
    client = client_for(caller.service, caller.key())
    created = client.realtime.calls.with_raw_response.create(
        sdp=asyncio.run(offer_sdp()), session={"type": "realtime", "model": "local-echo", "instructions": "Hi."}
    )
    assert created.status_code == 201
    assert created.http_request.headers["content-type"].startswith("multipart/form-data")
    client.realtime.calls.hangup(created.headers["location"].rsplit("/", 1)[-1])


def test_calls_create_and_hangup_with_a_client_secret(caller):
    secret = caller.mint()
    client = client_for(caller.service, secret)
    created = client.realtime.calls.with_raw_response.create(sdp=asyncio.run(offer_sdp()))
    assert created.status_code == 201
    with pytest.raises(openai.AuthenticationError):  # one call per secret
        client.realtime.calls.create(sdp=asyncio.run(offer_sdp()))
    client.realtime.calls.hangup(created.headers["location"].rsplit("/", 1)[-1])


def test_calls_sip_actions_are_refused(caller):
    client = client_for(caller.service, caller.key())
    for action in (client.realtime.calls.accept, client.realtime.calls.reject):
        with pytest.raises(openai.BadRequestError) as raised:
            action("rtc_x", **({"type": "realtime", "model": "local-echo"} if action == client.realtime.calls.accept
                               else {}))  # fmt: skip
        assert raised.value.code == "unsupported_call_type"


# --- client.realtime.connect(model=...): a WebSocket session ----------------------------------------------------


def test_connect_with_a_model_answers_spoken_pcm16_with_audio_deltas(caller):
    client = client_for(caller.service, caller.key())
    received = []
    with client.realtime.connect(model="local-echo") as connection:
        created = receive_until(connection, "session.created", received)
        assert created["session"]["model"] == "local-echo"
        connection.session.update(session={"type": "realtime", "instructions": "Echo."})
        receive_until(connection, "session.updated", received)
        utterance = np.concatenate([silence(0.3), tone(0.8), silence(0.8)])
        for start in range(0, len(utterance), 4800):  # 100 ms per append
            connection.input_audio_buffer.append(audio=pcm16(utterance[start : start + 4800]))
        started = receive_until(connection, "input_audio_buffer.speech_started", received)
        stopped = receive_until(connection, "input_audio_buffer.speech_stopped", received)
        receive_until(connection, "response.done", received)
    assert started["item_id"] == stopped["item_id"]
    assert 600 <= stopped["audio_end_ms"] - started["audio_start_ms"] <= 1600
    types = [event["type"] for event in received]
    assert "response.output_audio.done" in types
    assert not any(t.startswith("output_audio_buffer.") for t in types), "WebRTC-only events on a WebSocket"
    answer = np.concatenate([
        np.frombuffer(base64.b64decode(e["delta"]), dtype="<i2") for e in received
        if e["type"] == "response.output_audio.delta"
    ])  # fmt: skip
    assert 0.6 <= len(answer) / PCM_RATE <= 1.6
    assert level_dbfs(answer) > -30, "the echo should be audible"


def test_connect_with_a_model_answers_typed_text(caller):
    client = client_for(caller.service, caller.key())
    received = []
    with client.realtime.connect(model="local-echo") as connection:
        receive_until(connection, "session.created", received)
        connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
        )
        connection.response.create()
        done = receive_until(connection, "response.done", received)
        connection.send({"type": "no.such.event", "event_id": "evt_1"})
        unknown = receive_until(connection, "error", received)
    assert done["response"]["status"] == "completed"
    transcript = next(e for e in received if e["type"] == "response.output_audio_transcript.done")
    assert transcript["transcript"] == "Hello there"
    assert unknown["error"]["code"] == "unknown_event"


def test_an_answer_on_a_websocket_can_be_cancelled(caller):
    client = client_for(caller.service, caller.key())
    received = []
    with client.realtime.connect(model="local-echo") as connection:
        receive_until(connection, "session.created", received)
        connection.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "long " * 60}]})
        connection.response.create()
        receive_until(connection, "response.output_audio.delta", received)
        connection.response.cancel()
        done = receive_until(connection, "response.done", received)
    assert done["response"]["status"] == "cancelled"
    # As OpenAI: response.output_audio.done "also emitted when a Response is interrupted ... or cancelled", once.
    assert [e["type"] for e in received].count("response.output_audio.done") == 1


def test_a_websocket_session_ends_with_its_socket_and_counts_as_a_call(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS=1)
    client = client_for(caller.service, caller.key())
    with client.realtime.connect(model="local-echo") as connection:
        assert connection.recv().type == "session.created"
        assert caller.service.open_calls() == 1
        with pytest.raises(InvalidStatus) as raised:  # its slot is taken
            client.realtime.connect(model="local-echo").enter()
        assert raised.value.response.status_code == 429
    assert caller.service.wait_calls(0) == 0


def test_connect_with_a_client_secret_opens_one_session(caller):
    secret = caller.mint()
    client = client_for(caller.service, secret)
    with client.realtime.connect(model="local-echo") as connection:
        assert connection.recv().type == "session.created"
    with pytest.raises(InvalidStatus) as raised:
        client.realtime.connect(model="local-echo").enter()
    assert raised.value.response.status_code == 401


def test_the_async_client_connects_too(caller):
    async def scenario():
        client = AsyncOpenAI(api_key=caller.key(), base_url=caller.service.v1, max_retries=0)
        async with client.realtime.connect(model="local-echo") as connection:
            event = await connection.recv()
            return event.type

    assert asyncio.run(scenario()) == "session.created"


@pytest.mark.parametrize(
    ("query", "status"), [({"model": "gpt-realtime"}, 400), ({"call_id": "rtc_0000000000000000"}, 404)]
)
def test_connect_refusals_answer_before_the_upgrade(caller, query, status):
    client = client_for(caller.service, caller.key())
    with pytest.raises(InvalidStatus) as raised:
        client.realtime.connect(**query).enter()
    assert raised.value.response.status_code == status


def test_connect_with_a_wrong_key_is_refused(caller):
    with pytest.raises(InvalidStatus) as raised:
        client_for(caller.service, "sk-wrong").realtime.connect(model="local-echo").enter()
    assert raised.value.response.status_code == 401


# --- client.realtime.connect(call_id=...): the sideband of a WebRTC call -----------------------------------------


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_the_sideband_receives_what_the_data_channel_receives_and_may_send(caller):
    session = {"type": "realtime", "model": "local-echo",
               "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}  # fmt: skip
    client = client_for(caller.service, caller.key())
    sideband_events = []

    async def scenario():
        rtc = RtcClient()
        await rtc.connect(caller.post_offer, caller.mint(session))
        call_id = rtc.location.rsplit("/", 1)[-1]
        connection = await asyncio.to_thread(client.realtime.connect(call_id=call_id).enter)
        try:
            # A client event sent on the sideband acts on the call: both sides hear of it.
            await asyncio.to_thread(connection.session.update, session={"type": "realtime", "instructions": "Side."})
            await asyncio.to_thread(receive_until, connection, "session.updated", sideband_events)
            updated = await rtc.wait_for("session.updated")
            rtc.speak(np.concatenate([silence(0.2), tone(0.6), silence(0.8)]))
            await asyncio.to_thread(receive_until, connection, "response.done", sideband_events)
            await rtc.wait_for("response.done")
        finally:
            await asyncio.to_thread(connection.close)
        await rtc.close()
        return rtc, updated

    rtc, updated = run(scenario())
    assert updated["session"]["instructions"] == "Side."
    # The sideband, too, begins with the call's session.
    assert sideband_events[0]["type"] == "session.created"
    assert sideband_events[0]["session"]["id"] == rtc.received[0]["session"]["id"]
    sideband_types = [e["type"] for e in sideband_events[1:]]
    channel_types = [e["type"] for e in rtc.received if e["type"] != "session.created"]
    assert sideband_types == channel_types[: len(sideband_types)]
    assert {"input_audio_buffer.speech_started", "response.output_audio_transcript.done"} <= set(sideband_types)


def test_only_the_calls_own_account_joins_its_sideband(caller, service):
    async def scenario():
        rtc = RtcClient()
        await rtc.connect(caller.post_offer, caller.mint())
        call_id = rtc.location.rsplit("/", 1)[-1]
        statuses = []
        for key in (caller.key("globex"), service.api_key, caller.mint()):
            try:
                await asyncio.to_thread(client_for(service, key).realtime.connect(call_id=call_id).enter)
                statuses.append(101)
            except InvalidStatus as exc:
                statuses.append(exc.response.status_code)
        await rtc.close()
        return statuses

    # Another tenant's key and the operator's master key: no such call; a client secret is no server key.
    assert run(scenario()) == [404, 404, 401]


def test_a_sideband_cannot_join_a_websocket_session(caller):
    client = client_for(caller.service, caller.key())
    with client.realtime.connect(model="local-echo") as connection:
        session_id = connection.recv().session.id
        assert session_id
        # The WebSocket session's call id is not given out; a guess at a sideband finds nothing there.
        with pytest.raises(InvalidStatus) as raised:
            client.realtime.connect(call_id="rtc_" + "0" * 16).enter()
    assert raised.value.response.status_code == 404
