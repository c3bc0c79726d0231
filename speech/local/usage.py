"""Token usage of the local model, counted from what it really processed (docs/local-provider.md, "Usage").

Rules, chosen to match OpenAI's published figures for its realtime models where there are any:
- audio the user sent: 1 token per 100 ms (OpenAI: "1 token per 100 ms of user audio"), rounded up;
- audio the model spoke: 1 token per 50 ms (OpenAI: "1 token per 50 ms of assistant audio"), rounded up,
  as output, and at the same count when it is context for a later response;
- text: 1 token per 4 characters, rounded up (OpenAI's rule of thumb for English);
- input is the whole conversation a response sees: the session's instructions and every item;
- cached tokens are the part of that input already seen by the previous response, as a prefix
  (instructions, then items in order, up to the first one the previous response had not seen).
"""

import math

CHARS_PER_TEXT_TOKEN = 4
INPUT_AUDIO_MS_PER_TOKEN = 100
OUTPUT_AUDIO_MS_PER_TOKEN = 50


def text_tokens(text):
    return math.ceil(len(text or "") / CHARS_PER_TEXT_TOKEN)


def audio_tokens(ms, *, spoken_by_model=False):
    per_token = OUTPUT_AUDIO_MS_PER_TOKEN if spoken_by_model else INPUT_AUDIO_MS_PER_TOKEN
    return math.ceil(max(int(ms), 0) / per_token)


def item_tokens(item, *, audio_ms=0):
    """(text_tokens, audio_tokens) of one conversation item as model input."""
    kind = item.get("type")
    if kind == "function_call":
        return text_tokens(item.get("name", "")) + text_tokens(item.get("arguments", "")), 0
    if kind == "function_call_output":
        return text_tokens(item.get("output", "")), 0
    text = audio = 0
    for part in item.get("content") or []:
        if part.get("type") in ("input_text", "output_text", "text"):
            text += text_tokens(part.get("text", ""))
        elif part.get("type") == "input_audio":
            audio += audio_tokens(audio_ms)
        elif part.get("type") == "output_audio":
            audio += audio_tokens(audio_ms, spoken_by_model=True)
    return text, audio


def output_tokens(item, *, audio_ms=0):
    """(text_tokens, audio_tokens) the model produced for an output item: an audio message also produced
    its transcript as text."""
    if item.get("type") == "function_call":
        return item_tokens(item)
    text = audio = 0
    for part in item.get("content") or []:
        if part.get("type") == "output_audio":
            text += text_tokens(part.get("transcript") or "")
            audio += audio_tokens(audio_ms, spoken_by_model=True)
        elif part.get("type") == "output_text":
            text += text_tokens(part.get("text", ""))
    return text, audio


class UsageMeter:
    """Counts a response's input from the conversation, remembering what the previous response saw."""

    def __init__(self):
        self._seen = set()  # item ids the previous response had as input or produced as output
        self._seen_instructions = None

    def input_usage(self, *, conversation, instructions):
        """{text, audio, cached_text, cached_audio} of the input a response starts with."""
        counts = {"text": text_tokens(instructions), "audio": 0, "cached_text": 0, "cached_audio": 0}
        prefix = instructions == self._seen_instructions
        if prefix:
            counts["cached_text"] = counts["text"]
        for item in conversation:
            text, audio = item_tokens(item, audio_ms=conversation.audio_ms(item["id"]))
            counts["text"] += text
            counts["audio"] += audio
            prefix = prefix and item["id"] in self._seen
            if prefix:
                counts["cached_text"] += text
                counts["cached_audio"] += audio
        return counts

    def response_seen(self, *, conversation, instructions):
        """What a finished response saw (its input and its output) becomes the next one's cache."""
        self._seen = set(conversation.ids())
        self._seen_instructions = instructions

    def forget(self, item_id):
        """An item changed (truncated): the cached prefix ends before it."""
        self._seen.discard(item_id)


def response_usage(*, input_counts, output_text, output_audio):
    """A RealtimeResponseUsage body."""
    input_total = input_counts["text"] + input_counts["audio"]
    cached = input_counts["cached_text"] + input_counts["cached_audio"]
    return {
        "total_tokens": input_total + output_text + output_audio,
        "input_tokens": input_total,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_counts["text"],
            "audio_tokens": input_counts["audio"],
            "image_tokens": 0,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": input_counts["cached_text"],
                "audio_tokens": input_counts["cached_audio"],
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }
