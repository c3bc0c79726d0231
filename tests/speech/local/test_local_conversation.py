import pytest

from speech.local import conversation as conversation_module
from speech.local import events
from speech.local.conversation import Conversation, ConversationError


def user(item_id, text="hi"):
    return events.message_item(item_id, role="user", content=[{"type": "input_text", "text": text}])


def answer(item_id, transcript="hello"):
    return events.message_item(item_id, role="assistant", content=[{"type": "output_audio", "transcript": transcript}])


def error_of(call):
    with pytest.raises(ConversationError) as caught:
        call()
    return caught.value.code, caught.value.param


def test_items_keep_their_order_and_say_what_came_before():
    conversation = Conversation()
    assert conversation.add(user("a")) is None
    assert conversation.add(user("c")) == "a"
    assert conversation.add(user("b"), previous_item_id="a") == "a"
    assert conversation.add(user("first"), previous_item_id="root") is None
    assert conversation.ids() == ["first", "a", "b", "c"]
    assert conversation.previous_id("c") == "b"


def test_a_duplicate_id_or_an_unknown_previous_item_is_refused():
    conversation = Conversation()
    conversation.add(user("a"))
    assert error_of(lambda: conversation.add(user("a"))) == ("item_id_duplicate", "item.id")
    assert error_of(lambda: conversation.add(user("b"), previous_item_id="nope")) == (
        "item_create_invalid_previous_item_id", "previous_item_id")  # fmt: skip
    assert conversation.ids() == ["a"]


def test_a_snapshot_does_not_change_with_the_item():
    conversation = Conversation()
    conversation.add(answer("x", transcript="one"))
    snapshot = conversation.snapshot("x")
    conversation.get("x")["content"][0]["transcript"] = "two"
    assert snapshot["content"][0]["transcript"] == "one"


def test_delete_and_unknown_ids():
    conversation = Conversation()
    conversation.add(user("a"), audio_ms=500)
    conversation.delete("a")
    assert len(conversation) == 0 and conversation.audio_ms("a") == 0
    assert error_of(lambda: conversation.delete("a")) == ("item_delete_invalid_item_id", "item_id")
    assert error_of(lambda: conversation.get("a")) == ("item_retrieve_invalid_item_id", "item_id")


def test_truncation_is_checked_against_the_items_audio():
    conversation = Conversation()
    conversation.add(answer("x"), audio_ms=1200)
    conversation.add(user("u"))
    assert error_of(lambda: conversation.truncate("x", content_index=0, audio_end_ms=1201)) == (
        "invalid_value", "audio_end_ms")  # fmt: skip
    assert error_of(lambda: conversation.truncate("x", content_index=0, audio_end_ms=-1))[0] == "invalid_value"
    assert error_of(lambda: conversation.truncate("x", content_index=1, audio_end_ms=0)) == (
        "invalid_value", "content_index")  # fmt: skip
    assert error_of(lambda: conversation.truncate("u", content_index=0, audio_end_ms=0)) == ("invalid_value", "item_id")
    assert error_of(lambda: conversation.truncate("zz", content_index=0, audio_end_ms=0)) == (
        "item_truncate_invalid_item_id", "item_id")  # fmt: skip
    conversation.truncate("x", content_index=0, audio_end_ms=1200)
    conversation.truncate("x", content_index=0, audio_end_ms=400)
    assert conversation.audio_ms("x") == 400
    assert conversation.get("x")["content"][0]["transcript"] == ""  # no text the user did not hear


def test_the_oldest_items_are_dropped_past_the_context(monkeypatch):
    monkeypatch.setattr(conversation_module, "MAX_ITEMS", 3)
    monkeypatch.setattr(conversation_module, "MAX_TEXT_CHARS", 10)
    conversation = Conversation()
    for name in "abcd":
        conversation.add(user(name, text="xx"))
    assert conversation.ids() == ["b", "c", "d"]
    conversation.add(user("long", text="y" * 7))
    assert conversation.ids() == ["d", "long"]  # 2 + 7 characters fit, 2 + 2 + 7 do not
    conversation.add(user("huge", text="z" * 50))
    assert conversation.ids() == ["huge"]  # the newest item stays, even alone over the limit
