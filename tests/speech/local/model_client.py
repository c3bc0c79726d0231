"""A seam for the local model without WebRTC: client events in, server events out, speech "played" at once.

The reply stands in for the outgoing track: each play() completes after `play_seconds` (or when a
test clears it), so interruptions can be timed without real-time audio.
"""

import asyncio
import json

from speech.local.model import EchoModel
from speech.local.transcription import TranscriptionFailed
from tests.openai_shapes import assert_server_event


class InstantReply:
    def __init__(self, play_seconds=0.0):
        self.play_seconds = play_seconds
        self.played = []
        self._pending = []

    def play(self, samples):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append(done)
        self.played.append(samples)
        loop.call_later(self.play_seconds, self._finish, done)
        return done

    def _finish(self, done):
        if not done.done():
            done.set_result(True)
            self._pending.remove(done)

    def clear(self):
        dropped = bool(self._pending)
        for done in self._pending:
            if not done.done():
                done.set_result(False)
        self._pending.clear()
        return dropped

    @property
    def playing(self):
        return bool(self._pending)


class WordsRecogniser:
    """Hears fixed words, for tests about what the model does with them (pocketsphinx has its own tests)."""

    def __init__(self, words):
        self.words = words

    def warm(self):
        pass

    async def transcribe(self, samples):
        return self.words


class FailingRecogniser(WordsRecogniser):
    def __init__(self):
        super().__init__(None)

    async def transcribe(self, samples):
        raise TranscriptionFailed("BrokenProcessPool")


class ModelClient:
    def __init__(self, session, *, recogniser=None, play_seconds=0.0):
        self.received = []
        self.queue = asyncio.Queue()
        self.tasks = set()
        self.reply = InstantReply(play_seconds)
        self.model = EchoModel(session=session, send=self._on_event, reply=self.reply, spawn=self._spawn,
                               recogniser=recogniser)  # fmt: skip

    def _spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _on_event(self, event):
        json.dumps(event)  # what goes on the data channel must be JSON
        assert_server_event(event)
        self.received.append(event)
        self.queue.put_nowait(event)

    def send(self, event):
        self.model.receive(json.dumps(event))

    async def wait_for(self, event_type, timeout=10):
        async def wait():
            while True:
                event = await self.queue.get()
                if event["type"] == event_type:
                    return event

        return await asyncio.wait_for(wait(), timeout)

    async def settle(self):
        """Until every task the model started has finished."""
        while self.tasks:
            await asyncio.wait(list(self.tasks), timeout=10)

    def types(self):
        return [event["type"] for event in self.received]

    def say(self, text, **item):
        self.send({"type": "conversation.item.create",
                   "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}],
                            **item}})  # fmt: skip
