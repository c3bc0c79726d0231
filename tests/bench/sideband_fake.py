"""A fake OpenAI sideband for the supervisor benchmark: WebSocket joins of live calls on loopback.

    python -m tests.bench.sideband_fake --port 9002 --turn-seconds 10

GET /v1/realtime?call_id=rtc_<16 hex>  (Authorization: Bearer ...)  a call's sideband: session.created (session id
    sess_<the same hex>), then one conversational turn every --turn-seconds (each call starts at a random offset):
    the user's transcription, a response with the assistant's audio transcript, and its response.done with usage.
    Each transcript carries the time it was sent ("... sent=<unix seconds>"), so the bench can compare it with the
    time the supervisor recorded the line.
POST /v1/realtime/calls/<id>/hangup  ends that call's sideband (200; 404 when it has none).
GET /stats  {"open": sideband connections now, "events", "lines" (transcripts), "responses" (response.done): sent;
    with --tool: "tool_calls" sent, "tool_outputs" received, "round_trips_ms" (a function call's arguments.done
    sent -> its function_call_output received, the supervisor's handler included; the last 20 000)}.

--tool NAME: each turn is instead a function call of the tool NAME (arguments "{}"), as the model makes one:
response.created, response.function_call_arguments.done, response.done with the function_call item.
"""

import argparse
import asyncio
import collections
import itertools
import json
import random
import resource
import time

from aiohttp import WSMsgType, web

USAGE = {
    "total_tokens": 1460,
    "input_tokens": 1180,
    "output_tokens": 280,
    "input_token_details": {"text_tokens": 120, "audio_tokens": 1060, "image_tokens": 0, "cached_tokens": 640,
                            "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 576, "image_tokens": 0}},
    "output_token_details": {"text_tokens": 70, "audio_tokens": 210},
}  # fmt: skip
SAYS = "Could you tell me when the next train to the airport leaves, and from which platform?"
ANSWERS = "The next airport train leaves at ten past the hour from platform four; it takes about twenty minutes."

ids = itertools.count(1)
sockets = {}  # call id -> WebSocketResponse
stats = {"open": 0, "events": 0, "lines": 0, "responses": 0, "tool_calls": 0, "tool_outputs": 0}
calls_sent = {}  # the function call's call_id -> when its arguments.done was sent (perf_counter)
round_trips_ms = collections.deque(maxlen=20_000)


def new_id(prefix):
    return f"{prefix}_{next(ids):012d}"


def turn_events():
    user_item, response_id, reply_item = new_id("item"), new_id("resp"), new_id("item")
    return [
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1000, "item_id": user_item},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 3000, "item_id": user_item},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": user_item, "content_index": 0,
         "transcript": f"{SAYS} sent={{sent}}"},
        {"type": "response.created", "response": {"id": response_id, "object": "realtime.response",
                                                  "status": "in_progress", "output": []}},
        {"type": "response.output_audio_transcript.done", "response_id": response_id, "item_id": reply_item,
         "output_index": 0, "content_index": 0, "transcript": f"{ANSWERS} sent={{sent}}"},
        {"type": "response.done", "response": {"id": response_id, "object": "realtime.response",
                                               "status": "completed", "output": [], "usage": USAGE}},
    ]  # fmt: skip


def tool_turn_events(name):
    response_id, item_id, call_id = new_id("resp"), new_id("item"), new_id("call")
    item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "completed",
            "name": name, "call_id": call_id, "arguments": "{}"}  # fmt: skip
    return [
        {"type": "response.created", "response": {"id": response_id, "object": "realtime.response",
                                                  "status": "in_progress", "output": []}},
        {"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id,
         "output_index": 0, "call_id": call_id, "name": name, "arguments": "{}"},
        {"type": "response.done", "response": {"id": response_id, "object": "realtime.response",
                                               "status": "completed", "output": [item], "usage": USAGE}},
    ]  # fmt: skip


def client_event(data):
    """A client event from the supervisor: a function call's output ends its round trip."""
    try:
        event = json.loads(data)
    except ValueError:
        return
    item = event.get("item") if event.get("type") == "conversation.item.create" else None
    if isinstance(item, dict) and item.get("type") == "function_call_output":
        sent = calls_sent.pop(item.get("call_id"), None)
        if sent is not None:
            round_trips_ms.append((time.perf_counter() - sent) * 1000)
            stats["tool_outputs"] += 1


async def sideband(request):
    call_id = request.query.get("call_id", "")
    if not call_id.startswith("rtc_") or not request.headers.get("Authorization", "").startswith("Bearer "):
        return web.json_response({"error": {"code": "not_found"}}, status=404)
    ws = web.WebSocketResponse(autoping=True, compress=False)
    await ws.prepare(request)
    sockets[call_id] = ws
    stats["open"] += 1
    turn_seconds = request.app["turn_seconds"]
    talker = asyncio.ensure_future(talk(ws, call_id, turn_seconds, request.app["tool"]))
    try:
        async for message in ws:  # client events: a tool's output is timed; the rest are read and dropped
            if message.type == WSMsgType.ERROR:
                break
            if message.type == WSMsgType.TEXT:
                client_event(message.data)
    finally:
        talker.cancel()
        stats["open"] -= 1
        if sockets.get(call_id) is ws:
            del sockets[call_id]
    return ws


async def talk(ws, call_id, turn_seconds, tool=None):
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_" + call_id.removeprefix("rtc_"),
               "model": "gpt-realtime"}  # fmt: skip
    await ws.send_str(json.dumps({"type": "session.created", "event_id": new_id("event"), "session": session}))
    await asyncio.sleep(random.uniform(0, turn_seconds))
    while not ws.closed:
        for event in tool_turn_events(tool) if tool else turn_events():
            event["event_id"] = new_id("event")
            if event["type"] == "response.function_call_arguments.done":
                calls_sent[event["call_id"]] = time.perf_counter()
                stats["tool_calls"] += 1
            if "transcript" in event:
                event["transcript"] = event["transcript"].replace("{sent}", f"{time.time():.6f}")
            await ws.send_str(json.dumps(event))
            stats["events"] += 1
            stats["lines"] += "transcript" in event
            stats["responses"] += event["type"] == "response.done"
            await asyncio.sleep(0.05)  # the events of a turn come over a while, not in one burst
        await asyncio.sleep(turn_seconds)


async def hangup(request):
    ws = sockets.pop(request.match_info["call_id"], None)
    if ws is None:
        return web.json_response({"error": {"code": "not_found"}}, status=404)
    await ws.close()
    return web.json_response({})


async def stats_view(request):
    return web.json_response({**stats, "round_trips_ms": list(round_trips_ms)})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--turn-seconds", type=float, default=10.0)
    parser.add_argument("--tool", default="", help="each turn a function call of this tool")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per call
    app = web.Application()
    app["turn_seconds"] = args.turn_seconds
    app["tool"] = args.tool
    app.router.add_get("/v1/realtime", sideband)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", hangup)
    app.router.add_get("/stats", stats_view)
    print(f"ready {args.port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=2048)


if __name__ == "__main__":
    main()
