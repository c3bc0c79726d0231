"""The local model's conversation: items by id, in order, with their audio lengths.

Items are kept in the wire shape of OpenAI's `ConversationItem`, so what `conversation.item.retrieved`
or `conversation.item.done` carries is the item itself. Errors carry OpenAI's codes and messages.
"""

import copy

# The context the local model keeps, like a real model's context window: past these, the oldest items
# are dropped (OpenAI's `truncation: auto` does the same), so a client cannot grow a call's memory without end.
MAX_ITEMS = 512
MAX_TEXT_CHARS = 128_000  # about 32 000 tokens by the usage rule, gpt-realtime's context


def text_chars(item):
    """The characters of text an item holds: its text, transcripts, a call's arguments or output."""
    parts = item.get("content") or []
    return (
        sum(len(part.get("text") or "") + len(part.get("transcript") or "") for part in parts)
        + len(item.get("arguments") or "")
        + len(item.get("output") or "")
        + len(item.get("name") or "")
    )


class ConversationError(Exception):
    """A client event the conversation refuses; `code` and `param` are OpenAI's."""

    def __init__(self, message, *, code, param=None):
        super().__init__(message)
        self.code = code
        self.param = param


class Conversation:
    def __init__(self):
        self._items = {}  # id -> item (the wire shape), insertion-ordered by position
        self._audio_ms = {}  # id -> length of the item's audio, for truncation and usage

    def __iter__(self):
        return iter(list(self._items.values()))

    def __len__(self):
        return len(self._items)

    def __contains__(self, item_id):
        return item_id in self._items

    def ids(self):
        return list(self._items)

    def add(self, item, *, audio_ms=None, previous_item_id=None):
        """Append `item` (or insert it after `previous_item_id`); returns the id of the item before it."""
        item_id = item["id"]
        if item_id in self._items:
            raise ConversationError(
                f"Error adding item: an item with id '{item_id}' already exists.", code="item_id_duplicate",
                param="item.id",
            )  # fmt: skip
        order = list(self._items)
        if previous_item_id is not None and not isinstance(previous_item_id, str):
            raise ConversationError("previous_item_id must be a string.", code="invalid_type", param="previous_item_id")
        if previous_item_id is None:
            position = len(order)
        elif previous_item_id == "root":
            position = 0
        elif previous_item_id in self._items:
            position = order.index(previous_item_id) + 1
        else:
            raise ConversationError(
                f"Error adding item: the previous item with id '{previous_item_id}' does not exist.",
                code="item_create_invalid_previous_item_id", param="previous_item_id",
            )  # fmt: skip
        order.insert(position, item_id)
        self._items = {key: item if key == item_id else self._items[key] for key in order}
        if audio_ms is not None:
            self._audio_ms[item_id] = int(audio_ms)
        previous = order[position - 1] if position else None
        self._trim(keep=item_id)
        return previous

    def _trim(self, *, keep):
        while len(self._items) > 1 and (
            len(self._items) > MAX_ITEMS or sum(map(text_chars, self._items.values())) > MAX_TEXT_CHARS
        ):
            oldest = next(key for key in self._items if key != keep)
            del self._items[oldest]
            self._audio_ms.pop(oldest, None)

    def get(self, item_id, *, action="retrieving"):
        item = self._items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            code = {"retrieving": "item_retrieve_invalid_item_id", "deleting": "item_delete_invalid_item_id",
                    "truncating": "item_truncate_invalid_item_id"}[action]  # fmt: skip
            raise ConversationError(
                f"Error {action} item: the item with id '{item_id}' does not exist.", code=code, param="item_id"
            )
        return item

    def snapshot(self, item_id):
        """A copy of the item, safe to send while the conversation goes on changing it."""
        return copy.deepcopy(self.get(item_id))

    def previous_id(self, item_id):
        order = list(self._items)
        position = order.index(item_id)
        return order[position - 1] if position else None

    def audio_ms(self, item_id):
        return self._audio_ms.get(item_id, 0)

    def set_audio_ms(self, item_id, audio_ms):
        self._audio_ms[item_id] = int(audio_ms)

    def delete(self, item_id):
        self.get(item_id, action="deleting")
        del self._items[item_id]
        self._audio_ms.pop(item_id, None)

    def truncate(self, item_id, *, content_index, audio_end_ms):
        """Cut an assistant audio item at `audio_end_ms`: OpenAI drops its transcript too, so no text
        stays in the context that the user never heard."""
        item = self.get(item_id, action="truncating")
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ConversationError("Only assistant messages can be truncated.", code="invalid_value", param="item_id")
        content = item.get("content") or []
        if not isinstance(content_index, int) or not 0 <= content_index < len(content):
            raise ConversationError(
                f"Content index {content_index} is out of range.", code="invalid_value", param="content_index"
            )
        if content[content_index].get("type") != "output_audio":
            raise ConversationError("Only audio content can be truncated.", code="invalid_value", param="content_index")
        length = self.audio_ms(item_id)
        if not isinstance(audio_end_ms, int) or isinstance(audio_end_ms, bool) or audio_end_ms < 0:
            raise ConversationError("audio_end_ms must be a non-negative integer.", code="invalid_value",
                                    param="audio_end_ms")  # fmt: skip
        if audio_end_ms > length:
            raise ConversationError(
                f"Audio content of {length}ms is already shorter than {audio_end_ms}ms.",
                code="invalid_value", param="audio_end_ms",
            )  # fmt: skip
        content[content_index]["transcript"] = ""
        self._audio_ms[item_id] = audio_end_ms
