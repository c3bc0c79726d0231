from speech.local import events, usage
from speech.local.conversation import Conversation


def test_text_is_a_token_per_four_characters_rounded_up():
    assert [usage.text_tokens(t) for t in ("", "a", "abcd", "abcde", None)] == [0, 1, 1, 2, 0]


def test_user_audio_is_a_token_per_100_ms_and_model_audio_per_50_ms():
    assert [usage.audio_tokens(ms) for ms in (0, 1, 100, 101, 2400)] == [0, 1, 1, 2, 24]
    assert [usage.audio_tokens(ms, spoken_by_model=True) for ms in (0, 50, 51, 2400)] == [0, 1, 2, 48]


def test_items_count_by_kind():
    call = events.function_call_item("c", call_id="call_1", name="abcd", arguments='{"a":1}', status="completed")
    output = events.function_call_output_item("o", call_id="call_1", output="12345678")
    spoken = events.message_item("s", role="assistant", content=[{"type": "output_audio", "transcript": "abcdefgh"}])
    heard = events.user_audio_item("h", transcript="ignored: the model hears the audio")
    assert usage.item_tokens(call) == (1 + 2, 0)
    assert usage.item_tokens(output) == (2, 0)
    assert usage.item_tokens(spoken, audio_ms=1000) == (0, 20)
    assert usage.item_tokens(heard, audio_ms=1000) == (0, 10)
    assert usage.output_tokens(spoken, audio_ms=1000) == (2, 20)  # the transcript is produced as text too


def test_the_cached_prefix_ends_at_the_first_item_the_last_response_did_not_see():
    conversation, meter = Conversation(), usage.UsageMeter()
    first = events.message_item("a", role="user", content=[{"type": "input_text", "text": "abcd" * 3}])
    conversation.add(first)
    assert meter.input_usage(conversation=conversation, instructions="abcd")["cached_text"] == 0
    meter.response_seen(conversation=conversation, instructions="abcd")
    conversation.add(events.message_item("b", role="user", content=[{"type": "input_text", "text": "abcd"}]))
    counts = meter.input_usage(conversation=conversation, instructions="abcd")
    assert (counts["text"], counts["cached_text"]) == (1 + 3 + 1, 1 + 3)
    assert meter.input_usage(conversation=conversation, instructions="changed")["cached_text"] == 0
    meter.forget("a")
    assert meter.input_usage(conversation=conversation, instructions="abcd")["cached_text"] == 1


def test_a_usage_body_adds_up():
    body = usage.response_usage(input_counts={"text": 5, "audio": 7, "cached_text": 2, "cached_audio": 3},
                                output_text=4, output_audio=9)  # fmt: skip
    assert (body["input_tokens"], body["output_tokens"], body["total_tokens"]) == (12, 13, 25)
    assert body["input_token_details"]["cached_tokens"] == 5
