"""The local model's conversation through its seam: client events in, OpenAI's server events out, no WebRTC.

Every event it sends is validated against openai.types.realtime as it arrives (ModelClient).
"""

import asyncio
import json
import math

import numpy as np

from speech.local import model as model_module
from speech.local.audio import FRAME_SAMPLES, SAMPLE_RATE, tone
from tests.speech.local.model_client import FailingRecogniser, ModelClient, WordsRecogniser

TRANSCRIBED = {
    "type": "realtime",
    "model": "local-echo",
    "audio": {"input": {"transcription": {"model": "any"}, "turn_detection": {"type": "server_vad"}}},
}
TOOLS = [
    {
        "type": "function",
        "name": "check_order",
        "description": "The status of an order.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "integer"},
                "express": {"type": "boolean", "default": False},
                "note": {"type": "string", "default": "none"},
                "weight": {"type": "number"},
            },
        },
    },
    {"type": "function", "name": "hang_up", "parameters": {"type": "object", "properties": {}}},
]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def speak_into(client, seconds=0.8):
    """A turn into the model's microphone: silence, a tone, the silence that ends the turn."""
    silence = np.zeros(int(0.5 * SAMPLE_RATE), dtype=np.int16)
    samples = np.concatenate([silence, tone(seconds), silence, silence])
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        client.model.feed(samples[start : start + FRAME_SAMPLES])


def subsequence(types, expected):
    """Whether `expected` appears in `types` in this order (others may come between)."""
    remaining = iter(types)
    return all(kind in remaining for kind in expected)


def test_a_spoken_turn_follows_openais_order_and_keeps_its_transcript():
    async def scenario():
        client = ModelClient(TRANSCRIBED, recogniser=WordsRecogniser("hello there"))
        speak_into(client)
        done = await client.wait_for("response.done")
        user_id = client.received[0]["item_id"]
        client.send({"type": "conversation.item.retrieve", "item_id": user_id, "event_id": "evt_r"})
        retrieved = await client.wait_for("conversation.item.retrieved")
        await client.settle()
        return client, done, retrieved

    client, done, retrieved = run(scenario())
    assert subsequence(client.types(), [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
        "conversation.item.added", "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed", "conversation.item.done",
        "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
        "response.output_audio_transcript.delta", "response.output_audio.done",
        "response.output_audio_transcript.done", "response.content_part.done", "response.output_item.done",
        "conversation.item.done", "response.done",
    ])  # fmt: skip
    user_done = next(e for e in client.received if e["type"] == "conversation.item.done")
    assert user_done["item"]["content"][0]["transcript"] == "hello there"
    deltas = "".join(e["delta"] for e in client.received if e["type"].endswith("transcription.delta"))
    assert deltas == "hello there"
    assert retrieved["item"]["content"] == [{"type": "input_audio", "transcript": "hello there"}]
    assert retrieved["item"]["role"] == "user"
    assert done["response"]["output"][0]["content"][0]["transcript"] == "You said: hello there"


def test_without_transcription_the_user_item_has_no_transcript_but_the_model_heard():
    session = {**TRANSCRIBED, "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}

    async def scenario():
        client = ModelClient(session, recogniser=WordsRecogniser("hello there"))
        speak_into(client)
        done = await client.wait_for("response.done")
        await client.settle()
        return client, done

    client, done = run(scenario())
    assert not any("transcription" in kind for kind in client.types())
    user_done = next(e for e in client.received if e["type"] == "conversation.item.done")
    assert user_done["item"]["content"][0]["transcript"] is None
    assert done["response"]["output"][0]["content"][0]["transcript"] == "You said: hello there"


def test_no_words_heard_is_echoed_back_with_an_honest_note():
    async def scenario():
        client = ModelClient(TRANSCRIBED, recogniser=WordsRecogniser(""))
        speak_into(client)
        completed = await client.wait_for("conversation.item.input_audio_transcription.completed")
        done = await client.wait_for("response.done")
        await client.settle()
        return client, completed, done

    client, completed, done = run(scenario())
    assert completed["transcript"].startswith("[") and completed["transcript"].endswith(" s of speech]")
    assert done["response"]["output"][0]["content"][0]["transcript"].startswith("Echo of ")


def test_a_failed_recognition_says_so_and_the_turn_is_still_answered():
    async def scenario():
        client = ModelClient(TRANSCRIBED, recogniser=FailingRecogniser())
        speak_into(client)
        failed = await client.wait_for("conversation.item.input_audio_transcription.failed")
        done = await client.wait_for("response.done")
        await client.settle()
        return client, failed, done

    client, failed, done = run(scenario())
    assert (failed["error"]["code"], failed["content_index"]) == ("transcription_failed", 0)
    assert "conversation.item.input_audio_transcription.completed" not in client.types()
    assert done["response"]["output"][0]["content"][0]["transcript"].startswith("Echo of ")


def test_a_response_that_breaks_ends_as_failed(monkeypatch):
    async def broken_speech(text, *, voice):
        raise RuntimeError("espeak-ng vanished")

    monkeypatch.setattr(model_module, "speak", broken_speech)

    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.say("Hello")
        client.send({"type": "response.create"})
        done = await client.wait_for("response.done")
        await asyncio.gather(*client.tasks, return_exceptions=True)
        client.say("Again")
        client.send({"type": "response.create"})  # the model is not stuck with a response in progress
        again = await client.wait_for("response.created")
        await asyncio.gather(*client.tasks, return_exceptions=True)
        return done, again

    done, again = run(scenario())
    assert done["response"]["status"] == "failed"
    assert done["response"]["status_details"]["error"]["code"] == "server_error"
    assert again["response"]["status"] == "in_progress"


def test_unknown_item_ids_answer_openais_error_codes():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        for kind in ("retrieve", "delete", "truncate"):
            event = {"type": f"conversation.item.{kind}", "item_id": "item_nope", "event_id": f"evt_{kind}"}
            client.send({**event, "content_index": 0, "audio_end_ms": 0} if kind == "truncate" else event)
        await asyncio.sleep(0)
        return client

    client = run(scenario())
    errors = [e["error"] for e in client.received]
    assert [(e["code"], e["event_id"], e["param"]) for e in errors] == [
        ("item_retrieve_invalid_item_id", "evt_retrieve", "item_id"),
        ("item_delete_invalid_item_id", "evt_delete", "item_id"),
        ("item_truncate_invalid_item_id", "evt_truncate", "item_id"),
    ]
    assert errors[0]["message"] == "Error retrieving item: the item with id 'item_nope' does not exist."
    assert all(e["type"] == "invalid_request_error" for e in errors)


def test_a_deleted_item_is_gone():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.say("Hello", id="item_mine")
        client.send({"type": "conversation.item.delete", "item_id": "item_mine"})
        client.send({"type": "conversation.item.retrieve", "item_id": "item_mine"})
        await asyncio.sleep(0)
        return client

    client = run(scenario())
    assert client.types() == ["conversation.item.added", "conversation.item.done", "conversation.item.deleted",
                              "error"]  # fmt: skip
    assert client.received[2]["item_id"] == "item_mine"
    assert client.received[3]["error"]["code"] == "item_retrieve_invalid_item_id"


def test_an_assistant_answer_is_truncated_within_its_audio_only():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.say("Hello there")
        client.send({"type": "response.create"})
        done = await client.wait_for("response.done")
        item = done["response"]["output"][0]
        audio_ms = len(client.reply.played[0]) * 1000 // SAMPLE_RATE
        truncate = {"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0}
        client.send({**truncate, "audio_end_ms": audio_ms + 1, "event_id": "evt_long"})
        too_long = await client.wait_for("error")
        client.send({**truncate, "audio_end_ms": 200})
        truncated = await client.wait_for("conversation.item.truncated")
        client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = await client.wait_for("conversation.item.retrieved")
        user_id = client.received[0]["item"]["id"]
        client.send({**truncate, "item_id": user_id, "audio_end_ms": 0})
        not_assistant = await client.wait_for("error")
        await client.settle()
        return audio_ms, too_long, truncated, retrieved, not_assistant

    audio_ms, too_long, truncated, retrieved, not_assistant = run(scenario())
    assert audio_ms > 300
    assert (too_long["error"]["code"], too_long["error"]["param"]) == ("invalid_value", "audio_end_ms")
    assert too_long["error"]["event_id"] == "evt_long"
    assert (truncated["content_index"], truncated["audio_end_ms"]) == (0, 200)
    assert retrieved["item"]["content"] == [{"type": "output_audio", "transcript": ""}]
    assert not_assistant["error"]["code"] == "invalid_value"


def test_response_cancel_ends_the_response_as_cancelled_with_its_item_incomplete():
    async def scenario():
        client = ModelClient(TRANSCRIBED, play_seconds=5)
        client.say("a long answer")
        client.send({"type": "response.create"})
        await client.wait_for("output_audio_buffer.started")
        client.send({"type": "response.cancel"})
        done = await client.wait_for("response.done")
        await client.settle()
        return client, done

    client, done = run(scenario())
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    output_done = next(e for e in client.received if e["type"] == "response.output_item.done")
    item_done = [e for e in client.received if e["type"] == "conversation.item.done"][-1]
    assert output_done["item"]["status"] == item_done["item"]["status"] == "incomplete"
    assert done["response"]["output"][0]["status"] == "incomplete"
    assert "output_audio_buffer.cleared" in client.types()
    assert done["response"]["usage"]["output_tokens"] > 0  # what was generated is paid for, heard or not


def test_response_cancel_with_nothing_in_progress_is_an_error():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.send({"type": "response.cancel", "event_id": "evt_c"})
        await asyncio.sleep(0)
        return client

    [error] = run(scenario()).received
    assert (error["error"]["code"], error["error"]["event_id"]) == ("response_cancel_not_active", "evt_c")


def test_a_second_response_while_one_is_active_is_refused():
    async def scenario():
        client = ModelClient(TRANSCRIBED, play_seconds=1)
        client.say("Hello")
        client.send({"type": "response.create"})
        client.send({"type": "response.create", "event_id": "evt_2"})
        error = await client.wait_for("error")
        await client.settle()
        return client, error

    client, error = run(scenario())
    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert client.types().count("response.done") == 1


def test_every_response_done_carries_usage_counted_by_the_documented_rule():
    session = {**TRANSCRIBED, "instructions": "Be brief."}  # 9 characters: 3 text tokens

    async def scenario():
        client = ModelClient(session)
        client.say("Hello there")  # 11 characters: 3 text tokens
        client.send({"type": "response.create"})
        first = await client.wait_for("response.done")
        client.say("Bye")  # 1 text token
        client.send({"type": "response.create"})
        second = await client.wait_for("response.done")
        await client.settle()
        return client, first, second

    client, first, second = run(scenario())
    spoken_ms = [len(samples) * 1000 // SAMPLE_RATE for samples in client.reply.played]
    usage = first["response"]["usage"]
    assert usage["input_token_details"] == {
        "text_tokens": 3 + 3, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    }  # fmt: skip
    assert usage["output_token_details"] == {"text_tokens": 3, "audio_tokens": math.ceil(spoken_ms[0] / 50)}
    assert usage["input_tokens"] == 6 and usage["output_tokens"] == 3 + math.ceil(spoken_ms[0] / 50)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    later = second["response"]["usage"]["input_token_details"]
    # The first answer's audio is context now (at its output rate), and all the first response saw is cached.
    assert later["text_tokens"] == 3 + 3 + 1 and later["audio_tokens"] == math.ceil(spoken_ms[0] / 50)
    assert later["cached_tokens_details"] == {"text_tokens": 6, "audio_tokens": math.ceil(spoken_ms[0] / 50),
                                              "image_tokens": 0}  # fmt: skip
    assert later["cached_tokens"] == 6 + math.ceil(spoken_ms[0] / 50)


def test_user_audio_counts_one_token_per_100_ms():
    session = {**TRANSCRIBED, "audio": {"input": {"turn_detection": None}}}

    async def scenario():
        client = ModelClient(session, recogniser=WordsRecogniser(""))
        for _ in range(25):  # 500 ms of push-to-talk
            client.model.feed(tone(FRAME_SAMPLES / SAMPLE_RATE))
        client.send({"type": "input_audio_buffer.commit"})
        client.send({"type": "response.create"})
        done = await client.wait_for("response.done")
        await client.settle()
        return done

    assert run(scenario())["response"]["usage"]["input_token_details"]["audio_tokens"] == 5


def test_an_empty_push_to_talk_commit_is_refused():
    session = {**TRANSCRIBED, "audio": {"input": {"turn_detection": None}}}

    async def scenario():
        client = ModelClient(session)
        client.send({"type": "input_audio_buffer.commit", "event_id": "evt_e"})
        await asyncio.sleep(0)
        return client

    [error] = run(scenario()).received
    assert (error["error"]["code"], error["error"]["event_id"]) == ("input_audio_buffer_commit_empty", "evt_e")


def tool_session(**extra):
    return {**TRANSCRIBED, "tools": TOOLS, "tool_choice": "auto", **extra}


def test_a_message_naming_a_tool_calls_it_with_openais_events():
    async def scenario():
        client = ModelClient(tool_session())
        client.say("Please check_order order_id=123 express=yes weight=2.5 note=fragile")
        client.send({"type": "response.create"})
        done = await client.wait_for("response.done")
        await client.settle()
        return client, done

    client, done = run(scenario())
    types = client.types()
    assert subsequence(types, [
        "response.created", "response.output_item.added", "conversation.item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "conversation.item.done", "response.done",
    ])  # fmt: skip
    assert "output_audio_buffer.started" not in types and "output_audio_buffer.stopped" not in types
    arguments_done = next(e for e in client.received if e["type"] == "response.function_call_arguments.done")
    item = done["response"]["output"][0]
    assert item["type"] == "function_call" and item["status"] == "completed"
    assert (arguments_done["name"], arguments_done["call_id"], arguments_done["item_id"]) == (
        "check_order", item["call_id"], item["id"])  # fmt: skip
    assert arguments_done["response_id"] == done["response"]["id"] and arguments_done["output_index"] == 0
    arguments = json.loads(arguments_done["arguments"])
    assert arguments == {"order_id": 123, "express": True, "weight": 2.5, "note": "fragile"}
    deltas = "".join(e["delta"] for e in client.received if e["type"] == "response.function_call_arguments.delta")
    assert deltas == arguments_done["arguments"] == item["arguments"]
    assert done["response"]["usage"]["output_token_details"]["text_tokens"] > 0


def test_the_tool_output_is_spoken_in_the_next_response():
    async def scenario():
        client = ModelClient(tool_session())
        client.say("check order")
        client.send({"type": "response.create"})
        called = await client.wait_for("response.done")
        call_id = called["response"]["output"][0]["call_id"]
        client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": '{"status": "shipped"}'},
            }
        )
        client.send({"type": "response.create"})
        answered = await client.wait_for("response.done")
        await client.settle()
        return called, answered

    called, answered = run(scenario())
    assert json.loads(called["response"]["output"][0]["arguments"]) == {"express": False, "note": "none"}
    transcript = answered["response"]["output"][0]["content"][0]["transcript"]
    assert '{"status": "shipped"}' in transcript and "check_order" in transcript


def test_a_tool_is_called_from_recognised_speech():
    async def scenario():
        client = ModelClient(tool_session(), recogniser=WordsRecogniser("please check order one two three"))
        speak_into(client)
        done = await client.wait_for("response.done")
        await client.settle()
        return done

    item = run(scenario())["response"]["output"][0]
    assert (item["type"], item["name"]) == ("function_call", "check_order")


def test_tool_choice_is_honoured():
    async def answer(session, text, **response):
        client = ModelClient(session)
        client.say(text)
        client.send({"type": "response.create", **({"response": response} if response else {})})
        done = await client.wait_for("response.done")
        await client.settle()
        return done["response"]["output"][0]

    none = run(answer(tool_session(tool_choice="none"), "check_order now"))
    required = run(answer(tool_session(tool_choice="required"), "nothing named here"))
    named = run(answer(tool_session(), "check_order", tool_choice={"type": "function", "name": "hang_up"}))
    per_response = run(answer({**TRANSCRIBED}, "hang up please", tools=TOOLS))
    assert none["type"] == "message"
    assert (required["type"], required["name"]) == ("function_call", "check_order")
    assert named["name"] == "hang_up"
    assert per_response["name"] == "hang_up"


def test_a_text_only_response_writes_instead_of_speaking():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.say("Hello there")
        client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = await client.wait_for("response.done")
        await client.settle()
        return client, done

    client, done = run(scenario())
    assert subsequence(client.types(), [
        "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "conversation.item.done", "response.done",
    ])  # fmt: skip
    assert not any(kind.startswith("output_audio_buffer") or "audio" in kind for kind in client.types()[2:])
    assert client.reply.played == []
    assert done["response"]["output_modalities"] == ["text"]
    assert done["response"]["output"][0]["content"] == [{"type": "output_text", "text": "Hello there"}]
    assert done["response"]["usage"]["output_token_details"] == {"text_tokens": 3, "audio_tokens": 0}


def test_malformed_client_events_are_refused_and_the_call_goes_on():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.send({"type": {"not": "a string"}})
        for session in (
            {"audio": "loud"},
            {"audio": {"input": {"turn_detection": "always"}}},
            {"audio": {"output": {"voice": 7}}},
            {"tools": "all of them"},
            {"tool_choice": "sometimes"},
            {"output_modalities": ["smell"]},
            {"instructions": ["be", "brief"]},
        ):
            client.send({"type": "session.update", "session": {"type": "realtime", **session}})
        client.send({"type": "conversation.item.retrieve", "item_id": ["item_1"]})
        client.send({"type": "response.create", "response": {"tools": 5}})
        client.send({"type": "session.update", "session": {"audio": {"output": {"voice": {"id": "voice_custom"}}}}})
        speak_into(client)  # the model still listens, and answers
        done = await client.wait_for("response.done")
        await client.settle()
        return client, done

    client, done = run(scenario())
    errors = [(e["error"]["code"], e["error"]["param"]) for e in client.received if e["type"] == "error"]
    assert errors == [
        ("invalid_json", None),
        ("invalid_type", "session.audio"),
        ("invalid_type", "session.audio.input.turn_detection"),
        ("invalid_type", "session.audio.output.voice"),
        ("invalid_type", "session.tools"),
        ("invalid_value", "session.tool_choice"),
        ("invalid_value", "session.output_modalities"),
        ("invalid_type", "session.instructions"),
        ("item_retrieve_invalid_item_id", "item_id"),
        ("invalid_type", "response.tools"),
    ]
    assert done["response"]["audio"]["output"]["voice"] == "voice_custom"


def test_an_unforeseen_failure_in_a_handler_answers_server_error(monkeypatch):
    def broken(model, event):
        raise KeyError("surprise")

    monkeypatch.setitem(model_module.EchoModel.HANDLERS, "conversation.item.retrieve", broken)

    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.send({"type": "conversation.item.retrieve", "item_id": "x", "event_id": "evt_s"})
        client.say("still here")
        await asyncio.sleep(0)
        return client

    client = run(scenario())
    assert client.received[0]["error"]["code"] == "server_error" and client.received[0]["error"]["event_id"] == "evt_s"
    assert client.types()[1:] == ["conversation.item.added", "conversation.item.done"]


def test_a_responses_own_instructions_are_said_verbatim_less_a_say_exactly_lead():
    async def scenario():
        client = ModelClient(TRANSCRIBED)
        client.say("Hello")  # pending input a server's notice does not answer
        client.send({"type": "response.create", "response": {
            "instructions": "Say exactly: This call has reached its time limit. Goodbye.",
            "metadata": {"gateway_notice": "time_limit"},
        }})  # fmt: skip
        first = await client.wait_for("response.done")
        client.send({"type": "response.create", "response": {"instructions": "Hold the line, please."}})
        second = await client.wait_for("response.done")
        await client.settle()
        return first, second

    first, second = run(scenario())
    said = first["response"]["output"][0]["content"][0]["transcript"]
    assert said == "This call has reached its time limit. Goodbye."
    assert first["response"]["metadata"] == {"gateway_notice": "time_limit"}
    assert second["response"]["output"][0]["content"][0]["transcript"] == "Hold the line, please."


def test_a_response_asked_for_while_a_turn_is_heard_is_refused_if_the_turns_answer_begins_first():
    """Never dropped unanswered: a server's notice asked for then (speech/supervisor) learns it must ask again."""

    class SlowRecogniser(WordsRecogniser):
        def __init__(self):
            super().__init__("hello there")
            self.release = asyncio.Event()

        async def transcribe(self, samples):
            await self.release.wait()
            return self.words

    async def scenario():
        recogniser = SlowRecogniser()
        client = ModelClient(TRANSCRIBED, recogniser=recogniser)
        speak_into(client)
        client.send({"type": "response.create", "event_id": "evt_notice", "response": {"instructions": "Bye."}})
        await asyncio.sleep(0.05)
        recogniser.release.set()
        error = await client.wait_for("error")
        await client.wait_for("response.done")
        await client.settle()
        return client, error

    client, error = run(scenario())
    assert (error["error"]["code"], error["error"]["event_id"]) == ("conversation_already_has_active_response",
                                                                    "evt_notice")  # fmt: skip
    [done] = [e["response"] for e in client.received if e["type"] == "response.done"]
    assert done["output"][0]["content"][0]["transcript"] == "You said: hello there"
