"""The local "echo model": the conversation side of a call, apart from WebRTC.

It takes client events (`receive`) and microphone audio (`feed`), and answers with server events
(`send`) and speech (`reply.play`), in the order OpenAI's GA Realtime interface uses. The call
(call.py) wires it to a peer connection; tests may wire it to lists.
"""

import asyncio
import json
import logging

import numpy as np

from . import events, usage
from .audio import SAMPLE_RATE, SPEAK_MAX_CHARS, VoiceActivityDetector, speak
from .conversation import Conversation, ConversationError
from .tools import tool_call_for, tools_redact
from .transcription import TranscriptionFailed
from .transcription import recogniser as default_recogniser

logger = logging.getLogger(__name__)

PUSH_TO_TALK_MAX_SECONDS = 30
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less audio than this
ARGUMENT_DELTA_CHARS = 16
SAY_EXACTLY = "Say exactly:"  # the lead a server's notice may carry (speech/supervisor), not spoken


def session_problem(change):
    """(code, param, message) for a session.update field the model would misread, else None."""
    audio = change.get("audio", {})
    if not isinstance(audio, dict):
        return "invalid_type", "session.audio", "session.audio must be an object."
    for direction in ("input", "output"):
        if not isinstance(audio.get(direction, {}), dict):
            return "invalid_type", f"session.audio.{direction}", f"session.audio.{direction} must be an object."
    audio_input, audio_output = audio.get("input", {}), audio.get("output", {})
    for key in ("turn_detection", "transcription"):
        if not isinstance(audio_input.get(key), (dict, type(None))):
            return "invalid_type", f"session.audio.input.{key}", f"session.audio.input.{key} must be an object or null."
    speed = audio_output.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 1.5:
        return "invalid_value", "session.audio.output.speed", "session.audio.output.speed must be 0.25..1.5."
    voice = audio_output.get("voice", "verse")
    if not (isinstance(voice, str) or (isinstance(voice, dict) and isinstance(voice.get("id"), str))):
        return "invalid_type", "session.audio.output.voice", "session.audio.output.voice must be a name or {id}."
    if not isinstance(change.get("instructions", ""), str):
        return "invalid_type", "session.instructions", "session.instructions must be a string."
    tools = change.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        return "invalid_type", "session.tools", "session.tools must be an array of objects."
    tool_choice = change.get("tool_choice", "auto")
    if not (tool_choice in ("auto", "none", "required") or isinstance(tool_choice, dict)):
        return "invalid_value", "session.tool_choice", "session.tool_choice must be auto, none, required or an object."
    modalities = change.get("output_modalities", ["audio"])
    if modalities not in (["audio"], ["text"]):
        return "invalid_value", "session.output_modalities", 'session.output_modalities must be ["audio"] or ["text"].'
    return None


class Response:
    """A response in progress: cancelled by the client, by the user's speech, or by the end of playback."""

    def __init__(self, response_id):
        self.id = response_id
        self.cancel_reason = None
        self.finished = asyncio.Event()


class EchoModel:
    def __init__(self, *, session, send, reply, spawn, on_activity=lambda: None, recogniser=default_recogniser):
        self.session = session
        self.send = send
        self.reply = reply  # .play(samples) -> future(played: bool), .clear(), .playing
        self.spawn = spawn
        self.on_activity = on_activity
        self.recogniser = recogniser
        self.conversation = Conversation()
        self.meter = usage.UsageMeter()
        self.vad = VoiceActivityDetector.for_turn_detection(self.turn_detection)
        self.response = None  # the Response in progress
        self._pending = []  # ids of the items added since the last response began: what it answers
        self._heard = {}  # user audio item id -> the words recognised in it (None: none could be)
        self._last_audio = (None, None)  # (item id, samples) of the latest utterance, kept until answered
        self._speech_item = None
        self._push_to_talk_audio = []
        self._push_to_talk_samples = 0
        self._turn = None  # the task hearing the last committed utterance
        if self.recogniser is not None:
            self.recogniser.warm()

    # --- session --------------------------------------------------------------------

    def _audio(self, direction):
        audio = self.session.get("audio")
        section = audio.get(direction) if isinstance(audio, dict) else None
        return section if isinstance(section, dict) else {}

    @property
    def voice(self):
        voice = self._audio("output").get("voice", "verse")
        return voice.get("id", "verse") if isinstance(voice, dict) else str(voice)  # a custom voice: its id

    @property
    def speed(self):
        speed = self._audio("output").get("speed", 1.0)
        valid = isinstance(speed, (int, float)) and not isinstance(speed, bool) and 0.25 <= speed <= 1.5
        return float(speed) if valid else 1.0

    @property
    def turn_detection(self):
        turn_detection = self._audio("input").get("turn_detection")
        return turn_detection if isinstance(turn_detection, dict) else None

    @property
    def transcribes_input(self):
        return bool(self._audio("input").get("transcription"))

    @property
    def instructions(self):
        instructions = self.session.get("instructions")
        return instructions if isinstance(instructions, str) else ""

    def error(self, message, *, code, event=None, param=None):
        self.send(events.error(message, code=code, param=param, event_id=(event or {}).get("event_id")))

    # --- audio in -------------------------------------------------------------------

    def feed(self, samples):
        """One frame of the user's microphone (mono int16, 48 kHz)."""
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
        self.on_activity()
        self._speech_item = events.new_id("item")
        self.send(events.event("input_audio_buffer.speech_started", audio_start_ms=self.vad.utterance_start_ms,
                               item_id=self._speech_item))  # fmt: skip
        if self.response is not None and (self.turn_detection or {}).get("interrupt_response", True):
            self._cancel(self.response, "turn_detected")

    def _speech_stopped(self):
        self.on_activity()
        item_id, self._speech_item = self._speech_item, None
        self.send(events.event("input_audio_buffer.speech_stopped", audio_end_ms=self.vad.position_ms, item_id=item_id))
        respond = (self.turn_detection or {}).get("create_response", True)
        self._commit_audio(item_id, self.vad.take_utterance(), respond=respond)

    def _commit_audio(self, item_id, audio, *, respond):
        """committed, conversation.item.added; then, once heard, the transcript and conversation.item.done."""
        item = events.user_audio_item(item_id, transcript=None)
        try:
            previous = self.conversation.add(item, audio_ms=len(audio) * 1000 // SAMPLE_RATE)
        except ConversationError as exc:
            self.error(str(exc), code=exc.code, param=exc.param)
            return
        self._pending.append(item_id)
        self._last_audio = (item_id, audio)  # only the latest: an echo answers no other, and memory stays flat
        self.send(events.event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous))
        self.send(events.event("conversation.item.added", item=self.conversation.snapshot(item_id),
                               previous_item_id=previous))  # fmt: skip
        earlier = self._turn
        self._turn = self.spawn(self._hear(item_id, audio, respond=respond, after=earlier))

    async def _hear(self, item_id, audio, *, respond, after):
        if after is not None:
            await asyncio.wait([after])  # turns are heard, and answered, in the order they were spoken
        failed = False
        try:
            words = await self.recogniser.transcribe(audio) if self.recogniser is not None else None
        except TranscriptionFailed:
            words, failed = None, True
        self._heard[item_id] = words
        if item_id in self.conversation:
            if self.transcribes_input and failed:
                error = {
                    "type": "server_error",
                    "code": "transcription_failed",
                    "param": None,
                    "message": "The local model's speech recognition failed; it is restarted for the next turn.",
                }
                self.send(events.event("conversation.item.input_audio_transcription.failed", item_id=item_id,
                                       content_index=0, error=error))  # fmt: skip
            elif self.transcribes_input:
                self._send_transcript(item_id, audio, words)
            self.send(events.event("conversation.item.done", item=self.conversation.snapshot(item_id),
                                   previous_item_id=self.conversation.previous_id(item_id)))  # fmt: skip
        if respond:
            if self.response is not None:
                await self.response.finished.wait()
            self._start_response({})

    def _send_transcript(self, item_id, audio, words):
        seconds = len(audio) / SAMPLE_RATE
        # With no recogniser, or no words in the sound (a tone, noise), an honest note of what was heard.
        transcript = words or f"[{seconds:.1f} s of speech]"
        for index, word in enumerate(transcript.split(" ")):
            delta = word if index == 0 else " " + word
            self.send(events.event("conversation.item.input_audio_transcription.delta", item_id=item_id,
                                   content_index=0, delta=delta))  # fmt: skip
        self.conversation.get(item_id)["content"][0]["transcript"] = transcript
        self.send(events.event("conversation.item.input_audio_transcription.completed", item_id=item_id,
                               content_index=0, transcript=transcript,
                               usage={"type": "duration", "seconds": round(seconds, 2)}))  # fmt: skip

    # --- client events --------------------------------------------------------------

    def receive(self, raw):
        """One client event from the data channel (a JSON text)."""
        self.on_activity()
        try:
            event = json.loads(raw)
            kind = event["type"]
        except (ValueError, TypeError, KeyError):
            kind = None
        if not isinstance(kind, str):
            self.error("The event is not a JSON object with a type.", code="invalid_json")
            return
        if not isinstance(event.get("event_id"), (str, type(None))):
            event["event_id"] = None
        handler = self.HANDLERS.get(kind)
        if handler is None:
            self.error(f"Unknown event type {kind!r}.", code="unknown_event", event=event)
            return
        try:
            handler(self, event)
        except Exception:
            # A shape no check foresaw must not take the call down: say so, as OpenAI's server_error does.
            logger.exception("local model: %s failed", kind)
            self.send(events.error("The local model could not handle the event.", code="server_error",
                                   type_="server_error", event_id=event.get("event_id")))  # fmt: skip

    def _session_update(self, event):
        change = event.get("session")
        if not isinstance(change, dict):
            self.error("session must be an object.", code="invalid_type", event=event, param="session")
            return
        problem = session_problem(change)
        if problem is not None:
            code, param, message = problem
            self.error(message, code=code, event=event, param=param)
            return
        merged = {**self.session, **{k: v for k, v in change.items() if k != "audio"}}
        if "tools" in change:  # an MCP tool's credentials are write-only: never echoed in session.updated
            merged["tools"] = tools_redact(change["tools"])
        audio = {**self.session.get("audio", {})}
        for direction in ("input", "output"):
            if isinstance(change.get("audio", {}).get(direction), dict):
                audio[direction] = {**audio.get(direction, {}), **change["audio"][direction]}
        merged["audio"] = audio
        self.session = merged
        self.vad = VoiceActivityDetector.for_turn_detection(self.turn_detection)
        self.send(events.event("session.updated", session=self.session))

    def _item_create(self, event):
        item = self._client_item(event.get("item"))
        if item is None:
            self.error("The local echo model takes message, function_call and function_call_output items "
                       "with text content.", code="unsupported_item", event=event, param="item")  # fmt: skip
            return
        try:
            previous = self.conversation.add(item, previous_item_id=event.get("previous_item_id"))
        except ConversationError as exc:
            self.error(str(exc), code=exc.code, event=event, param=exc.param)
            return
        if item["type"] == "function_call_output" or item.get("role") == "user":
            self._pending.append(item["id"])
        self.send(events.event("conversation.item.added", item=self.conversation.snapshot(item["id"]),
                               previous_item_id=previous))  # fmt: skip
        self.send(events.event("conversation.item.done", item=self.conversation.snapshot(item["id"]),
                               previous_item_id=previous))  # fmt: skip

    @staticmethod
    def _client_item(item):
        """The item as the conversation keeps it, or None when the echo model cannot take it."""
        if not isinstance(item, dict):
            return None
        item_id = item.get("id") if isinstance(item.get("id"), str) and item.get("id") else events.new_id("item")
        kind = item.get("type")
        if kind == "function_call_output" and isinstance(item.get("call_id"), str):
            output = item.get("output")
            return events.function_call_output_item(
                item_id, call_id=item["call_id"], output=output if isinstance(output, str) else json.dumps(output)
            )
        if kind == "function_call" and isinstance(item.get("name"), str):
            return events.function_call_item(item_id, call_id=str(item.get("call_id") or events.new_id("call")),
                                             name=item["name"], arguments=str(item.get("arguments") or "{}"),
                                             status="completed")  # fmt: skip
        text_type = {"user": "input_text", "system": "input_text", "assistant": "output_text"}.get(item.get("role"))
        if kind != "message" or text_type is None:
            return None
        parts = [part for part in item.get("content") or [] if isinstance(part, dict)]
        texts = [part.get("text") for part in parts if part.get("type") == text_type]
        if not texts or len(texts) != len(parts) or not all(isinstance(text, str) for text in texts):
            return None
        content = [{"type": text_type, "text": text} for text in texts]
        return events.message_item(item_id, role=item["role"], content=content)

    def _item_retrieve(self, event):
        try:
            item = self.conversation.snapshot(event.get("item_id"))
        except ConversationError as exc:
            self.error(str(exc), code=exc.code, event=event, param=exc.param)
            return
        self.send(events.event("conversation.item.retrieved", item=item))

    def _item_delete(self, event):
        item_id = event.get("item_id")
        try:
            self.conversation.delete(item_id)
        except ConversationError as exc:
            self.error(str(exc), code=exc.code, event=event, param=exc.param)
            return
        if item_id in self._pending:
            self._pending.remove(item_id)
        self.meter.forget(item_id)
        self.send(events.event("conversation.item.deleted", item_id=item_id))

    def _item_truncate(self, event):
        item_id, content_index, audio_end_ms = (event.get(key) for key in ("item_id", "content_index", "audio_end_ms"))
        try:
            self.conversation.truncate(item_id, content_index=content_index, audio_end_ms=audio_end_ms)
        except ConversationError as exc:
            self.error(str(exc), code=exc.code, event=event, param=exc.param)
            return
        self.meter.forget(item_id)
        self.send(events.event("conversation.item.truncated", item_id=item_id, content_index=content_index,
                               audio_end_ms=audio_end_ms))  # fmt: skip

    def _buffer_clear(self, event):
        self._push_to_talk_audio, self._push_to_talk_samples = [], 0
        self.vad.clear()
        self.send(events.event("input_audio_buffer.cleared"))

    def _buffer_commit(self, event):
        chunks, self._push_to_talk_audio, self._push_to_talk_samples = self._push_to_talk_audio, [], 0
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        ms = len(audio) * 1000 / SAMPLE_RATE
        if ms < MIN_COMMIT_MS:
            self.error(f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms "
                       f"of audio, but buffer only has {ms:.2f}ms of audio.", code="input_audio_buffer_commit_empty",
                       event=event)  # fmt: skip
            return
        self._commit_audio(events.new_id("item"), audio, respond=False)

    def _output_clear(self, event):
        if self.response is not None:
            self._cancel(self.response, "client_cancelled")
        self.reply.clear()

    def _response_create(self, event):
        if self.response is not None:
            self.error(f"Conversation already has an active response in progress: {self.response.id}. Wait until "
                       "the response is finished before creating a new one.",
                       code="conversation_already_has_active_response", event=event)  # fmt: skip
            return
        options = event.get("response") if isinstance(event.get("response"), dict) else {}
        problem = session_problem({key: options[key] for key in ("tools", "tool_choice", "output_modalities")
                                   if key in options})  # fmt: skip
        if problem is not None:
            code, param, message = problem
            self.error(message.replace("session.", "response."), code=code, event=event,
                       param=param.replace("session.", "response."))  # fmt: skip
            return
        if self._turn is not None and not self._turn.done():
            # The last utterance is still being heard: answer it once it is.
            self.spawn(self._respond_after(self._turn, options, event))
            return
        self._start_response(options)

    async def _respond_after(self, turn, options, event):
        await asyncio.wait([turn])
        if self.response is None:
            self._start_response(options)
        else:  # the turn's own answer began first: refused as OpenAI refuses it, never dropped unanswered
            self.error(f"Conversation already has an active response in progress: {self.response.id}. Wait until "
                       "the response is finished before creating a new one.",
                       code="conversation_already_has_active_response", event=event)  # fmt: skip

    def _response_cancel(self, event):
        if self.response is None or (event.get("response_id") not in (None, self.response.id)):
            self.error("Cancellation failed: no active response found", code="response_cancel_not_active",
                       event=event)  # fmt: skip
            return
        self._cancel(self.response, "client_cancelled")

    def _unsupported(self, event):
        self.error(f"{event['type']} is not supported by the local echo model.", code="unsupported_event", event=event)

    HANDLERS = {
        "session.update": _session_update,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "conversation.item.retrieve": _item_retrieve,
        "conversation.item.truncate": _item_truncate,
        "input_audio_buffer.append": _unsupported,  # audio travels on the WebRTC track
        "input_audio_buffer.clear": _buffer_clear,
        "input_audio_buffer.commit": _buffer_commit,
        "output_audio_buffer.clear": _output_clear,
        "response.cancel": _response_cancel,
        "response.create": _response_create,
    }

    # --- responses ------------------------------------------------------------------

    def _cancel(self, response, reason):
        if response.cancel_reason is None:
            response.cancel_reason = reason
        self.reply.clear()  # the answer is generated at speaking pace: cancelling it stops what plays

    def _start_response(self, options):
        self.response = Response(events.new_id("resp"))
        pending, self._pending = self._pending, []
        plan = self._plan(pending, options)
        if self._last_audio[0] in pending:
            self._last_audio = (None, None)
        input_counts = self.meter.input_usage(conversation=self.conversation, instructions=self.instructions)
        self.spawn(self._respond(self.response, plan, input_counts, options))

    def _plan(self, pending, options):
        """What to answer: ("call", name, arguments) | ("speak", text) | ("echo", samples, transcript).

        What is spoken is cut to SPEAK_MAX_CHARS: a long message must not buy minutes of speech and
        thousands of transcript events."""
        spoken = options.get("instructions")
        if isinstance(spoken, str) and spoken.strip():
            # A response's own instructions are said verbatim (a server's notice), less a "Say exactly:" lead.
            text = spoken.strip()
            plan = ("speak", text[len(SAY_EXACTLY):].strip() if text.lower().startswith(SAY_EXACTLY.lower()) else text)
        else:
            plan = self._plan_whole(pending, options)
        return ("speak", plan[1][:SPEAK_MAX_CHARS]) if plan[0] == "speak" else plan

    def _plan_whole(self, pending, options):
        items = [self.conversation.get(item_id) for item_id in pending if item_id in self.conversation]
        outputs = [item for item in items if item["type"] == "function_call_output"]
        if outputs:
            names = {item["call_id"]: item["name"] for item in self.conversation if item["type"] == "function_call"}
            said = [f"The {names.get(item['call_id'], 'tool')} tool answered: {item['output']}" for item in outputs]
            return ("speak", " ".join(said))
        users = [item for item in items if item["type"] == "message" and item["role"] == "user"]
        if not users:
            return ("speak", "There is nothing to answer yet.")
        latest = users[-1]
        if latest["content"][0]["type"] == "input_audio":
            item_id, samples = self._last_audio
            samples = samples if item_id == latest["id"] else np.zeros(0, dtype=np.int16)
            text = self._heard.get(latest["id"]) or ""
        else:
            samples, text = None, " ".join(part["text"] for part in latest["content"])
        tools = options.get("tools", self.session.get("tools"))
        call = tool_call_for(text, tools=tools, tool_choice=options.get("tool_choice", self.session.get("tool_choice")))
        if call is not None:
            return ("call", *call)
        if samples is None:
            return ("speak", text)
        if text:
            return ("speak", f"You said: {text}")
        return ("echo", samples, f"Echo of {len(samples) / SAMPLE_RATE:.1f} s of your speech")

    async def _respond(self, response, plan, input_counts, options):
        """One response, framed by OpenAI's events, ending with response.done and its usage."""
        metadata = options.get("metadata") if isinstance(options.get("metadata"), dict) else None
        modalities = options.get("output_modalities") or self.session.get("output_modalities") or ["audio"]
        modalities = ["audio"] if "audio" in modalities else ["text"]
        created = events.response(response.id, status="in_progress", voice=self.voice, metadata=metadata,
                                  modalities=modalities)  # fmt: skip
        self.send(events.event("response.created", response=created))
        output, failed = [], False
        try:
            if plan[0] == "call":
                output.append(self._call_tool(response, name=plan[1], arguments=plan[2]))
            elif modalities == ["text"]:
                output.append(self._write(response, plan[1] if plan[0] == "speak" else plan[2]))
            else:
                if plan[0] == "speak":
                    samples, transcript = await speak(plan[1], voice=self.voice, speed=self.speed), plan[1]
                else:
                    samples, transcript = plan[1], plan[2]
                if response.cancel_reason is None:  # cancelled while the speech was being made: no item
                    output.append(await self._speak(response, samples, transcript))
        except Exception:
            failed = True  # the response still ends, as failed; the task's logger records why
            raise
        finally:
            status = "failed" if failed else "cancelled" if response.cancel_reason else "completed"
            out_text = out_audio = 0
            for item in output:
                text, audio = usage.output_tokens(item, audio_ms=self.conversation.audio_ms(item["id"]))
                out_text, out_audio = out_text + text, out_audio + audio
            body = events.response(
                response.id, status=status, voice=self.voice, output=output, reason=response.cancel_reason,
                usage=usage.response_usage(input_counts=input_counts, output_text=out_text, output_audio=out_audio),
                metadata=metadata, modalities=modalities,
            )  # fmt: skip
            if failed:
                error = {"type": "server_error", "code": "server_error", "message": "The local model failed to answer."}
                body["status_details"] = {"type": "failed", "error": error}
            self.meter.response_seen(conversation=self.conversation, instructions=self.instructions)
            self.response = None
            response.finished.set()
            self.send(events.event("response.done", response=body))
            if any(part["type"] == "output_audio" for item in output for part in item.get("content") or []):
                self.send(events.event("output_audio_buffer.stopped", response_id=response.id))
            self.on_activity()

    def _add_output(self, response, item):
        previous = self.conversation.add(item)
        self.send(events.event("response.output_item.added", response_id=response.id, output_index=0,
                               item=self.conversation.snapshot(item["id"])))  # fmt: skip
        self.send(events.event("conversation.item.added", item=self.conversation.snapshot(item["id"]),
                               previous_item_id=previous))  # fmt: skip
        return previous

    def _close_output(self, response, item, previous):
        self.send(events.event("response.output_item.done", response_id=response.id, output_index=0,
                               item=self.conversation.snapshot(item["id"])))  # fmt: skip
        self.send(events.event("conversation.item.done", item=self.conversation.snapshot(item["id"]),
                               previous_item_id=previous))  # fmt: skip
        return self.conversation.snapshot(item["id"])

    def _call_tool(self, response, *, name, arguments):
        item = events.function_call_item(events.new_id("item"), call_id=events.new_id("call"), name=name)
        previous = self._add_output(response, item)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "call_id": item["call_id"]}
        for start in range(0, len(arguments), ARGUMENT_DELTA_CHARS):
            self.send(events.event("response.function_call_arguments.delta",
                                   delta=arguments[start : start + ARGUMENT_DELTA_CHARS], **ids))  # fmt: skip
        self.send(events.event("response.function_call_arguments.done", name=name, arguments=arguments, **ids))
        item.update(arguments=arguments, status="completed")
        return self._close_output(response, item, previous)

    def _write(self, response, text):
        """A text answer (output_modalities ["text"]): the same words, as output_text."""
        item = events.message_item(events.new_id("item"), role="assistant", content=[], status="in_progress")
        previous = self._add_output(response, item)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        self.send(events.event("response.content_part.added", part={"type": "text", "text": ""}, **ids))
        item["content"].append({"type": "output_text", "text": ""})
        for index, word in enumerate(text.split(" ")):
            delta = word if index == 0 else " " + word
            item["content"][0]["text"] += delta
            self.send(events.event("response.output_text.delta", delta=delta, **ids))
        self.send(events.event("response.output_text.done", text=text, **ids))
        self.send(events.event("response.content_part.done", part={"type": "text", "text": text}, **ids))
        item["status"] = "completed"
        return self._close_output(response, item, previous)

    async def _speak(self, response, samples, transcript):
        item = events.message_item(events.new_id("item"), role="assistant", content=[], status="in_progress")
        previous = self._add_output(response, item)
        self.conversation.set_audio_ms(item["id"], len(samples) * 1000 // SAMPLE_RATE)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        self.send(events.event("response.content_part.added", part={"type": "audio", "transcript": ""}, **ids))
        item["content"].append({"type": "output_audio", "transcript": ""})
        self.send(events.event("output_audio_buffer.started", response_id=response.id))
        for index, word in enumerate(transcript.split(" ")):
            delta = word if index == 0 else " " + word
            item["content"][0]["transcript"] += delta
            self.send(events.event("response.output_audio_transcript.delta", delta=delta, **ids))
        played = await self.reply.play(samples)
        if not played:
            self.send(events.event("output_audio_buffer.cleared", response_id=response.id))
        item["status"] = "completed" if played and response.cancel_reason is None else "incomplete"
        self.send(events.event("response.output_audio.done", **ids))
        self.send(events.event("response.output_audio_transcript.done", transcript=transcript, **ids))
        self.send(events.event("response.content_part.done", part={"type": "audio", "transcript": transcript},
                               **ids))  # fmt: skip
        return self._close_output(response, item, previous)
