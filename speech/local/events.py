"""Server events of OpenAI's GA Realtime interface, as the local peer sends them.

Shapes follow openai.types.realtime.RealtimeServerEvent; the tests validate each builder.
"""

import secrets


def new_id(prefix):
    return f"{prefix}_{secrets.token_hex(8)}"


def event(type_, **fields):
    return {"type": type_, "event_id": new_id("event"), **fields}


def user_audio_item(item_id, *, transcript=None, status="completed"):
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": status,
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def user_text_item(item_id, text):
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": text}],
    }


def assistant_item(item_id, *, transcript=None, status="in_progress"):
    content = [] if transcript is None else [{"type": "output_audio", "transcript": transcript}]
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def function_call_item(item_id, *, call_id, name, arguments="", status="in_progress"):
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def message_item(item_id, *, role, content, status="completed"):
    return {"id": item_id, "object": "realtime.item", "type": "message", "role": role, "status": status,
            "content": content}  # fmt: skip


def function_call_output_item(item_id, *, call_id, output, status="completed"):
    return {"id": item_id, "object": "realtime.item", "type": "function_call_output", "status": status,
            "call_id": call_id, "output": output}  # fmt: skip


def response(response_id, *, status, output=(), voice, reason=None, usage=None, metadata=None, modalities=("audio",)):
    body = {
        "id": response_id,
        "object": "realtime.response",
        "conversation_id": "conv_local",
        "status": status,
        "output": list(output),
        "output_modalities": list(modalities),
        "audio": {"output": {"voice": voice}},
        "usage": usage,
        "metadata": metadata,
    }
    if reason:
        body["status_details"] = {"type": status, "reason": reason}
    return body


def error(message, *, code, type_="invalid_request_error", event_id=None, param=None):
    return event(
        "error",
        error={"type": type_, "code": code, "message": message, "param": param, "event_id": event_id},
    )
