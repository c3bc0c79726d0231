import json

from speech.local.tools import tool_arguments, tool_call_for

ORDER = {
    "type": "function",
    "name": "check_order",
    "parameters": {
        "type": "object",
        "properties": {
            "order_id": {"type": "integer"},
            "rush": {"type": "boolean", "default": False},
            "weight": {"type": ["number", "null"]},
            "note": {"type": "string", "default": "none"},
        },
    },
}
STATUS = {"type": "function", "name": "check_order_status", "parameters": {"type": "object", "properties": {}}}


def call(text, tools=(ORDER,), tool_choice=None):
    found = tool_call_for(text, tools=list(tools), tool_choice=tool_choice)
    return found and (found[0], json.loads(found[1]))


def test_a_message_naming_a_tool_calls_it_with_defaults():
    assert call("please CHECK_ORDER now") == ("check_order", {"rush": False, "note": "none"})


def test_spoken_names_match_with_spaces_and_only_as_whole_words():
    assert call("please check order one two three")[0] == "check_order"
    assert call("recheck orders") is None
    assert call("check-order")[0] == "check_order"


def test_the_longest_name_in_the_message_wins():
    assert call("check order status", tools=(ORDER, STATUS))[0] == "check_order_status"


def test_key_value_pairs_are_typed_by_the_schema():
    assert tool_arguments("order_id=12 rush=yes weight=2.50 note=fragile other=1", ORDER["parameters"]) == {
        "order_id": 12, "rush": True, "weight": 2.5, "note": "fragile"}  # fmt: skip
    assert tool_arguments('note="two words" weight=3', ORDER["parameters"])["note"] == "two words"
    assert tool_arguments("weight=3", ORDER["parameters"])["weight"] == 3


def test_a_value_that_does_not_parse_is_passed_on_as_written():
    """As a real model may write it: the handler validates arguments against its schema."""
    assert tool_arguments("order_id=abc rush=maybe", ORDER["parameters"]) == {
        "order_id": "abc", "rush": "maybe", "note": "none"}  # fmt: skip


def test_tool_choice():
    assert call("check_order", tool_choice="none") is None
    assert call("hello", tool_choice="required")[0] == "check_order"
    assert call("hello", tools=(ORDER, STATUS), tool_choice={"type": "function", "name": "check_order_status"}) == (
        "check_order_status", {})  # fmt: skip
    assert call("check_order", tools=({"type": "mcp", "server_label": "x"},)) is None
    assert call("check_order", tools=()) is None
