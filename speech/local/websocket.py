"""The local provider's WebSocket side: a sideband joined to a WebRTC call, or a session of its own.

GET /v1/realtime?call_id=...   the server key of the call's account: the call's server events, and client events
GET /v1/realtime?model=...     a session without WebRTC: audio in as base64 PCM16 (24 kHz mono) through
                               input_audio_buffer.append, out as response.output_audio.delta
"""

import asyncio
import base64
import binascii
import json
import logging
import time

import numpy as np
from aiohttp import WSMsgType, web

from . import events
from .audio import FRAME_SAMPLES, SAMPLE_RATE, resample

logger = logging.getLogger(__name__)

PCM_RATE = 24000  # OpenAI's audio/pcm: 16-bit little-endian mono at 24 kHz
DELTA_SECONDS = 0.1  # audio per response.output_audio.delta
MAX_QUEUED_EVENTS = 2000  # a reader that falls this far behind is disconnected, not buffered without end
MAX_MESSAGE_BYTES = 1024 * 1024
# WebRTC's own events: a WebSocket session has no output audio buffer (OpenAI sends them only over WebRTC).
WEBRTC_ONLY = ("output_audio_buffer.",)


def pcm16_decode(audio):
    """base64 PCM16 at 24 kHz -> int16 samples at 48 kHz (the peer's rate)."""
    raw = base64.b64decode(audio, validate=True)
    return resample(np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16), PCM_RATE)


def pcm16_encode(samples):
    """int16 samples at 48 kHz -> base64 PCM16 at 24 kHz."""
    pairs = samples[: len(samples) // 2 * 2].astype(np.int32).reshape(-1, 2)
    return base64.b64encode(pairs.mean(axis=1).astype("<i2").tobytes()).decode()


class DeltaOutput:
    """The answer's audio for a WebSocket session: response.output_audio.delta events paced in real time.

    The same interface as audio.ReplyTrack (play, clear, playing, stop), so the call answers the same way.
    It learns which response and item the audio belongs to from the call's response.content_part.added.
    """

    def __init__(self):
        self.send = None  # the call's send(), set once the call exists
        self._queue = []  # (samples, future)
        self._ids = {}
        self._task = None
        self._stopped = False

    def observe(self, event):
        if event["type"] == "response.content_part.added":
            self._ids = {key: event[key] for key in ("response_id", "item_id", "output_index", "content_index")}

    def play(self, samples):
        done = asyncio.get_running_loop().create_future()
        if self._stopped:
            done.set_result(False)
            return done
        self._queue.append((samples, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._pump())
        return done

    async def _pump(self):
        step = int(DELTA_SECONDS * SAMPLE_RATE)
        started = time.monotonic()
        sent = 0.0
        while self._queue:
            samples, done = self._queue[0]
            ids = dict(self._ids)
            for start in range(0, len(samples), step):
                if not self._queue or self._queue[0][1] is not done:
                    break  # cleared while playing
                self.send(events.event("response.output_audio.delta", delta=pcm16_encode(samples[start : start + step]),
                                        **ids))  # fmt: skip
                sent += min(step, len(samples) - start) / SAMPLE_RATE
                await asyncio.sleep(max(0.0, started + sent - time.monotonic()))
            else:
                self._queue.pop(0)  # response.output_audio.done is the model's to send, as over WebRTC
                if not done.done():
                    done.set_result(True)

    def clear(self):
        dropped = bool(self._queue)
        for _, done in self._queue:
            if not done.done():
                done.set_result(False)
        self._queue = []
        return dropped

    @property
    def playing(self):
        return bool(self._queue)

    def stop(self):
        self._stopped = True
        self.clear()
        if self._task is not None:
            self._task.cancel()


class EventSink:
    """Server events for one WebSocket, in order, through a bounded queue (a slow reader is disconnected)."""

    def __init__(self, ws):
        self.ws = ws
        self.queue = asyncio.Queue()
        self.overflowed = False

    def __call__(self, event):
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED_EVENTS:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)

    async def write(self):
        while True:
            event = await self.queue.get()
            if event is None:
                await self.ws.close(code=1008, message=b"too slow")
                return
            await self.ws.send_str(json.dumps(event))


async def websocket_serve(ws, call, *, own_call):
    """Pump events both ways until the socket or the call closes. An own call (a plain WebSocket session)
    ends with its socket; a sideband leaves the WebRTC call running."""
    sink = EventSink(ws)
    output = call.reply if own_call else None

    def listener(event):
        if isinstance(output, DeltaOutput):
            output.observe(event)
        if own_call and event["type"].startswith(WEBRTC_ONLY):
            return
        sink(event)

    call.listeners.append(listener)
    if own_call:
        call.send(events.event("session.created", session=call.session))
    else:  # a sideband learns the call's session first, as every WebSocket connection does
        sink(events.event("session.created", session=call.session))
    writer = asyncio.ensure_future(sink.write())
    ended = asyncio.ensure_future(call.ended.wait())
    reader = asyncio.ensure_future(_read(ws, call, own_call=own_call))
    try:
        await asyncio.wait({writer, ended, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        call.listeners.remove(listener)
        for task in (writer, ended, reader):
            task.cancel()
        for task in (writer, reader):
            if task.done() and not task.cancelled() and task.exception() is not None:
                # The peer went away mid-write or mid-read: an end like any other.
                logger.debug("local call %s: WebSocket ended: %r", call.id, task.exception())
        if own_call:
            await call.close()
        if not ws.closed:
            await ws.close()
    return ws


async def _read(ws, call, *, own_call):
    remainder = np.zeros(0, dtype=np.int16)
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        if own_call:
            appended, remainder = _append(call, message.data, remainder)
            if appended:
                continue
        call.receive(message.data)


def _append(call, raw, remainder):
    """Handle input_audio_buffer.append on a WebSocket session; (handled, leftover samples)."""
    if '"input_audio_buffer.append"' not in raw:
        return False, remainder
    try:
        event = json.loads(raw)
    except ValueError:
        return False, remainder
    if not isinstance(event, dict) or event.get("type") != "input_audio_buffer.append":
        return False, remainder
    try:
        samples = pcm16_decode(event.get("audio") or "")
    except (binascii.Error, ValueError, TypeError):
        call.send(events.error("audio must be base64 PCM16.", code="invalid_value", param="audio",
                               event_id=event.get("event_id")))  # fmt: skip
        return True, remainder
    call.last_activity = time.monotonic()
    samples = np.concatenate([remainder, samples])
    whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
    for start in range(0, whole, FRAME_SAMPLES):
        call.hear(samples[start : start + FRAME_SAMPLES])
    return True, samples[whole:]


def websocket_response(request):
    """The WebSocket response, with the browser's `openai-insecure-api-key.` protocol echoed when it sent one."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    protocols = [p for p in offered if p == "realtime"]
    return web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, protocols=protocols, heartbeat=30)
