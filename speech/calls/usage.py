"""Token usage and its cost: `response.done`'s usage (RealtimeResponseUsage) times the model's prices."""

from dataclasses import dataclass, fields
from decimal import Decimal

from django.conf import settings

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class TokenUsage:
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    @classmethod
    def from_response_usage(cls, usage):
        """From a `response.done`'s `response.usage` (a dict); missing or malformed counts read as 0."""
        usage = usage if isinstance(usage, dict) else {}
        given = usage.get("input_token_details")
        details_in = given if isinstance(given, dict) else {}
        given = usage.get("output_token_details")
        details_out = given if isinstance(given, dict) else {}
        return cls(
            input_text_tokens=_count(details_in.get("text_tokens")),
            input_audio_tokens=_count(details_in.get("audio_tokens")),
            input_cached_tokens=_count(details_in.get("cached_tokens")),
            output_text_tokens=_count(details_out.get("text_tokens")),
            output_audio_tokens=_count(details_out.get("audio_tokens")),
        )

    def as_dict(self):
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _count(value):
    # Provider output: a bool, a negative or a float is not a count.
    return value if type(value) is int and 0 <= value < 2**53 else 0


def usage_cost(*, model, usage):
    """USD for `usage` at `model`'s prices (SPEECH_MODEL_PRICES, per million tokens); 0 for an unpriced model.
    Cached input tokens are part of the input counts, so they are billed at the cached price instead."""
    prices = settings.SPEECH_MODEL_PRICES.get(model) or settings.SPEECH_MODEL_PRICES.get(_base_model(model)) or {}

    def price(name):
        return Decimal(str(prices.get(name, 0)))

    cached = min(usage.input_cached_tokens, usage.input_text_tokens + usage.input_audio_tokens)
    cached_text = min(cached, usage.input_text_tokens)
    cached_audio = cached - cached_text
    total = (
        (usage.input_text_tokens - cached_text) * price("input_text")
        + (usage.input_audio_tokens - cached_audio) * price("input_audio")
        + cached * price("input_cached")
        + usage.output_text_tokens * price("output_text")
        + usage.output_audio_tokens * price("output_audio")
    )
    return (total / MILLION).quantize(Decimal("0.000001"))


def _base_model(model):
    """gpt-realtime-2025-08-28 -> gpt-realtime: dated variants cost what their model costs."""
    head, _, tail = model.rpartition("-")
    while head and tail.isdigit():
        head, _, tail = head.rpartition("-")
    return f"{head}-{tail}" if head else tail
