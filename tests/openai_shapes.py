"""Checks that what we send and what fakes answer match OpenAI's published SDK types."""

from openai.types.audio.speech_create_params import SpeechCreateParams
from openai.types.realtime import ClientSecretCreateParams, ClientSecretCreateResponse, RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter

_mint_params = TypeAdapter(ClientSecretCreateParams)
_server_event = TypeAdapter(RealtimeServerEvent)


def assert_mint_body(body):
    """A ClientSecretCreateParams body with no key the types do not define."""
    validated = _mint_params.validate_python(body)
    # TypedDict validation drops unknown keys, so any difference is a key the SDK does not know.
    assert validated == body, f"keys or values outside ClientSecretCreateParams:\n{body}\n!=\n{validated}"


def mint_answer(*, value="ek_test_secret_123", expires_at=1767225600, session=None):
    """A ClientSecretCreateResponse-valid answer body."""
    body = {
        "value": value,
        "expires_at": expires_at,
        "session": session
        or {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_test",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "audio": {"output": {"voice": "verse"}},
        },
    }
    ClientSecretCreateResponse.model_validate(body)
    return body


# Keys OpenAI sends that its SDK types do not define, by where they sit (docs/local-provider.md lists them):
# the session in session.created / session.updated carries its id and object, as the mint answer does.
KEYS_BEYOND_SDK_TYPES = {"session.id", "session.object"}


def _unknown_keys(value, path):
    """Paths of keys the SDK types did not define anywhere in a parsed value (they land in model_extra)."""
    if isinstance(value, BaseModel):
        found = [
            f"{path}.{key}"
            for key in (value.model_extra or {})
            if not any(f"{path}.{key}".endswith("." + known) for known in KEYS_BEYOND_SDK_TYPES)
        ]
        for name in type(value).model_fields:
            found += _unknown_keys(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, (list, tuple)):
        return [key for index, item in enumerate(value) for key in _unknown_keys(item, f"{path}[{index}]")]
    return []


def assert_server_event(event):
    """A RealtimeServerEvent of OpenAI's GA interface, with no key its SDK types do not define, at any depth."""
    parsed = _server_event.validate_python(event)
    assert parsed.type == event["type"]
    unknown = set(event) - set(type(parsed).model_fields)
    assert not unknown, f"{event['type']} carries keys the SDK does not define: {unknown}"
    nested = _unknown_keys(parsed, event["type"])
    assert not nested, f"{event['type']} carries keys the SDK does not define: {nested}"
    return parsed


_speech_params = TypeAdapter(SpeechCreateParams)


def assert_speech_body(body):
    """A SpeechCreateParams body (POST /v1/audio/speech) with no key the types do not define."""
    validated = _speech_params.validate_python(body)
    assert validated == body, f"keys or values outside SpeechCreateParams:\n{body}\n!=\n{validated}"
