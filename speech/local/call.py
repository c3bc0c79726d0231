"""One call with the local peer: an "echo model" that answers like OpenAI's Realtime interface."""

import asyncio
import json
import logging
import time

import numpy as np
from aiortc.mediastreams import MediaStreamError

from . import events
from .audio import SAMPLE_RATE, SPEAK_MAX_CHARS, ReplyTrack, VoiceActivityDetector, speak, to_mono
from .limits import EventRate

logger = logging.getLogger(__name__)

PUSH_TO_TALK_MAX_SECONDS = 30
# What one call's client may send: events larger than this are refused, and more than EVENTS_PER_SECOND
# (with bursts up to EVENT_BURST) answer rate_limit_exceeded instead of work.
# A plain WebSocket session streams its audio as events (input_audio_buffer.append, commonly 20-100 ms
# each): room for that, and for two seconds of base64 PCM16 in one event.
MAX_EVENT_BYTES = 128 * 1024
EVENTS_PER_SECOND, EVENT_BURST = 100, 200


class EchoCall:
    """Listens on the incoming track, detects turns, and answers on the outgoing track and data channel."""

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
        self.session = session
        self.first_media_seconds = first_media_seconds
        self.reply = output or ReplyTrack()
        # Callables given every server event, besides the data channel: sideband and WebSocket sessions.
        self.listeners = []
        self.ended = asyncio.Event()
        self.vad = VoiceActivityDetector.for_turn_detection(self.turn_detection)
        self.channel = None
        self.tasks = set()
        self.max_seconds = max_seconds
        self.idle_seconds = idle_seconds
        self.media_timeout = media_timeout
        self.started = self.last_activity = time.monotonic()
        self.closed = False
        self._on_closed = on_closed
        self._speech_item = None
        self._push_to_talk_audio = []
        self._push_to_talk_samples = 0
        self._pending_input = None  # ("audio", samples) or ("text", str), for response.create
        self._responding = False  # one response at a time, as OpenAI's conversations
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

    @property
    def voice(self):
        return self.session.get("audio", {}).get("output", {}).get("voice", "verse")

    @property
    def turn_detection(self):
        return self.session.get("audio", {}).get("input", {}).get("turn_detection")

    @property
    def transcribes_input(self):
        return bool(self.session.get("audio", {}).get("input", {}).get("transcription"))

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
        self.send(events.event("session.created", session=self.session))

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

    def hear(self, samples):
        """20 ms of the caller's audio, mono int16 at 48 kHz: from the WebRTC track, or a WebSocket's appends."""
        if self.turn_detection is None:
            if self._push_to_talk_samples < PUSH_TO_TALK_MAX_SECONDS * SAMPLE_RATE:
                self._push_to_talk_audio.append(samples)
                self._push_to_talk_samples += len(samples)
            return
        if self.reply.playing:
            # Half duplex: it does not listen while it answers, or it would echo its own echo.
            return
        outcome = self.vad.feed(samples)
        if outcome == "started":
            self._speech_started()
        elif outcome == "stopped":
            self._speech_stopped()

    def _speech_started(self):
        self.last_activity = time.monotonic()
        self._speech_item = events.new_id("item")
        self.send(
            events.event(
                "input_audio_buffer.speech_started",
                audio_start_ms=self.vad.utterance_start_ms,
                item_id=self._speech_item,
            )
        )

    def _speech_stopped(self):
        self.last_activity = time.monotonic()
        item_id, self._speech_item = self._speech_item, None
        self.send(events.event("input_audio_buffer.speech_stopped", audio_end_ms=self.vad.position_ms, item_id=item_id))
        audio = self.vad.take_utterance()
        self._commit_audio(item_id, audio)
        if (self.turn_detection or {}).get("create_response", True) and not self._responding:
            self._pending_input = None
            self.spawn(self._respond(audio=audio))

    def _commit_audio(self, item_id, audio):
        seconds = len(audio) / SAMPLE_RATE
        self.send(events.event("input_audio_buffer.committed", item_id=item_id, previous_item_id=None))
        self.send(events.event("conversation.item.added", item=events.user_audio_item(item_id, transcript=None)))
        if self.transcribes_input:
            # An honest note of what was heard: the echo model does not recognise words.
            self.send(
                events.event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=f"[{seconds:.1f} s of speech]",
                    usage={"type": "duration", "seconds": round(seconds, 2)},
                )
            )
        self.send(events.event("conversation.item.done", item=events.user_audio_item(item_id, transcript=None)))
        self._pending_input = ("audio", audio)

    def _on_message(self, raw):
        self.last_activity = time.monotonic()
        if not self._event_rate.allow():
            self.send(events.error("Too many events; slow down.", code="rate_limit_exceeded"))
            return
        if len(raw) > MAX_EVENT_BYTES:
            self.send(events.error(f"An event may hold at most {MAX_EVENT_BYTES} bytes.", code="invalid_value"))
            return
        try:
            event = json.loads(raw)
            kind = event["type"]
        except (ValueError, TypeError, KeyError):
            self.send(events.error("The event is not a JSON object with a type.", code="invalid_json"))
            return
        handler = self.HANDLERS.get(kind)
        if handler is None:
            self.send(
                events.error(f"Unknown event type {kind!r}.", code="unknown_event", event_id=event.get("event_id"))
            )
            return
        handler(self, event)

    def _session_update(self, event):
        change = event.get("session")
        if not isinstance(change, dict):
            self.send(events.error("session must be an object.", code="invalid_value", event_id=event.get("event_id")))
            return
        merged = {**self.session, **{k: v for k, v in change.items() if k != "audio"}}
        audio = {**self.session.get("audio", {})}
        for direction in ("input", "output"):
            if isinstance(change.get("audio", {}).get(direction), dict):
                audio[direction] = {**audio.get(direction, {}), **change["audio"][direction]}
        merged["audio"] = audio
        self.session = merged
        self.vad = VoiceActivityDetector.for_turn_detection(self.turn_detection)
        self.send(events.event("session.updated", session=self.session))

    def _item_create(self, event):
        item = event.get("item") or {}
        texts = [
            part.get("text", "")
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "input_text"
        ]
        if item.get("type") != "message" or item.get("role") != "user" or not texts:
            self.send(
                events.error(
                    "The local echo model takes user messages with input_text.",
                    code="unsupported_item",
                    event_id=event.get("event_id"),
                )
            )
            return
        text = " ".join(texts)[:SPEAK_MAX_CHARS]  # what the echo model speaks and transcribes
        item_id = item.get("id") or events.new_id("item")
        self.send(events.event("conversation.item.added", item=events.user_text_item(item_id, text)))
        self.send(events.event("conversation.item.done", item=events.user_text_item(item_id, text)))
        self._pending_input = ("text", text)

    def _response_create(self, event):
        if self._responding:
            self.send(
                events.error(
                    "Conversation already has an active response in progress.",
                    code="conversation_already_has_active_response",
                    event_id=event.get("event_id"),
                )
            )
            return
        if self._pending_input is None:
            self._pending_input = ("text", "There is nothing to answer yet.")
        kind, value = self._pending_input
        self._pending_input = None
        self.spawn(self._respond(**{kind: value}))

    def _response_cancel(self, event):
        self.reply.clear()

    def _buffer_clear(self, event):
        self._push_to_talk_audio, self._push_to_talk_samples = [], 0
        self.vad.clear()
        self.send(events.event("input_audio_buffer.cleared"))

    def _buffer_commit(self, event):
        chunks, self._push_to_talk_audio, self._push_to_talk_samples = self._push_to_talk_audio, [], 0
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        self._commit_audio(events.new_id("item"), audio)

    def _output_clear(self, event):
        self.reply.clear()

    def _item_delete(self, event):
        self.send(events.event("conversation.item.deleted", item_id=str(event.get("item_id", ""))))

    def _unsupported(self, event):
        self.send(
            events.error(
                f"{event['type']} is not supported by the local echo model.",
                code="unsupported_event",
                event_id=event.get("event_id"),
            )
        )

    HANDLERS = {
        "session.update": _session_update,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "conversation.item.retrieve": _unsupported,
        "conversation.item.truncate": _unsupported,
        "input_audio_buffer.append": _unsupported,  # audio travels on the WebRTC track
        "input_audio_buffer.clear": _buffer_clear,
        "input_audio_buffer.commit": _buffer_commit,
        "output_audio_buffer.clear": _output_clear,
        "response.cancel": _response_cancel,
        "response.create": _response_create,
    }

    # --- outgoing -----------------------------------------------------------------

    async def _respond(self, *, audio=None, text=None):
        """One response: the user's audio played back, or the typed text spoken, framed by OpenAI's events."""
        self._responding = True
        try:
            await self._answer(audio=audio, text=text)
        finally:
            self._responding = False

    async def _answer(self, *, audio, text):
        response_id, item_id = events.new_id("resp"), events.new_id("item")
        if audio is not None:
            samples, transcript = audio, f"Echo of {len(audio) / SAMPLE_RATE:.1f} s of your speech"
        else:
            samples, transcript = await speak(text, voice=self.voice), text
        ids = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        part = {"type": "audio", "transcript": ""}
        self.send(events.event("response.created", response=events.response(response_id, status="in_progress",
                                                                            voice=self.voice)))  # fmt: skip
        self.send(events.event("response.output_item.added", response_id=response_id, output_index=0,
                               item=events.assistant_item(item_id)))  # fmt: skip
        self.send(events.event("conversation.item.added", item=events.assistant_item(item_id)))
        self.send(events.event("response.content_part.added", content_index=0, part=part, **ids))
        self.send(events.event("output_audio_buffer.started", response_id=response_id))
        for word in transcript.split(" "):
            self.send(events.event("response.output_audio_transcript.delta", content_index=0, delta=word + " ", **ids))
        played = await self.reply.play(samples)
        if not played:
            self.send(events.event("output_audio_buffer.cleared", response_id=response_id))
            cancelled = events.response(response_id, status="cancelled", voice=self.voice, reason="turn_detected")
            self.send(events.event("response.done", response=cancelled))
            return
        done_item = events.assistant_item(item_id, transcript=transcript, status="completed")
        self.send(events.event("response.output_audio_transcript.done", content_index=0, transcript=transcript, **ids))
        self.send(events.event("response.content_part.done", content_index=0,
                               part={"type": "audio", "transcript": transcript}, **ids))  # fmt: skip
        self.send(events.event("response.output_item.done", response_id=response_id, output_index=0, item=done_item))
        self.send(events.event("conversation.item.done", item=done_item))
        completed = events.response(response_id, status="completed", voice=self.voice, output=[done_item])
        self.send(events.event("response.done", response=completed))
        self.send(events.event("output_audio_buffer.stopped", response_id=response_id))
        self.last_activity = time.monotonic()
