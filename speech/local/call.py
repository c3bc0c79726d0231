"""One call with the local peer: an "echo model" that answers like OpenAI's Realtime interface."""

import asyncio
import json
import logging
import time

from aiortc.mediastreams import MediaStreamError

from . import events
from .audio import ReplyTrack, to_mono
from .limits import EventRate
from .model import EchoModel

logger = logging.getLogger(__name__)

# What one call's client may send: events larger than this are refused, and more than EVENTS_PER_SECOND
# (with bursts up to EVENT_BURST) answer rate_limit_exceeded instead of work. (A WebSocket session's
# input_audio_buffer.append events go to hear() before they count: websocket.py.)
MAX_EVENT_BYTES = 128 * 1024
EVENTS_PER_SECOND, EVENT_BURST = 100, 200


class EchoCall:
    """The media side of a call (WebRTC tracks and data channel, or a WebSocket session) and the call's
    limits. What is said and answered is the model's (model.py)."""

    def __init__(
        self,
        *,
        call_id,
        pc,
        session,
        max_seconds,
        idle_seconds,
        media_timeout,
        on_closed,
        account,
        secret_id=None,
        output=None,
        first_media_seconds=15.0,
    ):
        self.id = call_id
        self.account = account  # whose call slot it takes, and who may hang it up
        self.secret_id = secret_id  # the client secret that opened it (None: the account's server key)
        self.pc = pc  # None: a WebSocket session, whose audio comes in through hear() and goes out via `output`
        self.reply = output or ReplyTrack()
        self.model = EchoModel(session=session, send=self.send, reply=self.reply, spawn=self.spawn,
                               on_activity=self._active)  # fmt: skip
        # Callables given every server event, besides the data channel: sideband and WebSocket sessions.
        self.listeners = []
        self.ended = asyncio.Event()
        self.channel = None
        self.tasks = set()
        self.max_seconds = max_seconds
        self.idle_seconds = idle_seconds
        self.media_timeout = media_timeout
        self.first_media_seconds = first_media_seconds
        self.started = self.last_activity = time.monotonic()
        self.closed = False
        self._on_closed = on_closed
        self._media_seen = pc is None  # a WebSocket session's audio comes in as events
        self._event_rate = EventRate(per_second=EVENTS_PER_SECOND, burst=EVENT_BURST)
        if pc is not None:
            pc.on("datachannel", self._on_datachannel)
            pc.on("track", self._on_track)
            pc.on("connectionstatechange", self._on_connection_state)
        self.spawn(self._watchdog())

    # --- plumbing -----------------------------------------------------------------

    def spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("local call %s: task failed", self.id, exc_info=task.exception())

    def send(self, event):
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(event))
        for listener in list(self.listeners):
            listener(event)

    def receive(self, raw):
        """A client event, from the data channel or a WebSocket."""
        self._on_message(raw)

    def hear(self, samples):
        """20 ms of the caller's audio, mono int16 at 48 kHz: from the WebRTC track, or a WebSocket's appends."""
        self.model.feed(samples)

    @property
    def session(self):
        return self.model.session

    def _active(self):
        self.last_activity = time.monotonic()

    async def close(self):
        if self.closed:
            return
        self.closed = True
        self.reply.stop()
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
        if self.pc is not None:
            await self.pc.close()
        self._on_closed(self)
        self.ended.set()
        logger.info("local call %s closed", self.id)

    async def _on_connection_state(self):
        logger.debug("local call %s: connection %s", self.id, self.pc.connectionState)
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def _watchdog(self):
        while not self.closed:
            await asyncio.sleep(1)
            now = time.monotonic()
            if now - self.started > self.max_seconds or now - self.last_activity > self.idle_seconds:
                logger.info("local call %s: closing (call length or idle limit)", self.id)
                self.spawn(self.close())
                return
            if not self._media_seen and now - self.started > self.first_media_seconds:
                logger.info("local call %s: no audio track after %s s, closing", self.id, self.first_media_seconds)
                self.spawn(self.close())
                return

    # --- incoming -----------------------------------------------------------------

    def _on_datachannel(self, channel):
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self.spawn(self.close()))  # the page hung up
        self.send(events.event("session.created", session=self.model.session))

    def _on_track(self, track):
        if track.kind == "audio":
            self._media_seen = True
            self.spawn(self._listen(track))

    async def _listen(self, track):
        while True:
            try:
                frame = await asyncio.wait_for(track.recv(), self.media_timeout)
            except MediaStreamError:
                return
            except TimeoutError:
                # Browsers send audio all the time, even muted: silence on the wire means the page is gone.
                logger.info("local call %s: no media for %s s, closing", self.id, self.media_timeout)
                self.spawn(self.close())
                return
            self.hear(to_mono(frame))

    def _on_message(self, raw):
        self._active()
        if not self._event_rate.allow():
            self.send(events.error("Too many events; slow down.", code="rate_limit_exceeded"))
            return
        if len(raw) > MAX_EVENT_BYTES:
            self.send(events.error(f"An event may hold at most {MAX_EVENT_BYTES} bytes.", code="invalid_value"))
            return
        self.model.receive(raw)
