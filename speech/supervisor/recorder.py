"""What a supervised call leaves in the database, written in order by one task per call.

The sideband's reader only queues work here, so handling an event never waits for the database; every write is
idempotent (speech.calls.services), so a line or a response seen again after a re-join counts once.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from ..calls.services import call_transcript_append, call_usage_record, tool_run_record
from ..ops.metrics import call_tokens_total, transcript_lines_dropped_total

logger = logging.getLogger("speech.supervisor")

WRITE_ATTEMPTS = 3  # a database blip (a pool reconnecting) costs a retry, not the record
RETRY_SECONDS = 0.5
FLUSH_SECONDS = 30.0  # how long the call's end waits for its last records
MAX_LINE_CHARS = 20_000  # provider output: a line longer than this is cut, not stored whole
# Lines recorded per call: a browser typing thousands of messages must not queue thousands of rows on the one
# database thread every call shares. Usage and tool runs are never dropped.
MAX_LINES_PER_CALL = 2000
TOKEN_LABELS = {
    "input_text_tokens": ("input", "text"),
    "input_audio_tokens": ("input", "audio"),
    "input_cached_tokens": ("input", "cached"),
    "output_text_tokens": ("output", "text"),
    "output_audio_tokens": ("output", "audio"),
}


def database(function):
    """`function` on the database thread, on a connection checked first (a long-lived process outlives them)."""

    def run(*args, **kwargs):
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=True)


class Recorder:
    def __init__(self, *, call_id, model):
        self.call_id = call_id
        self.model = model
        self.queue = asyncio.Queue()
        self.task = None
        self.line_keys = set()  # lines queued (a line seen again after a re-join is written once, and counts once)
        self.lines_dropped = 0

    def start(self):
        self.task = asyncio.ensure_future(self._write())

    def line(self, *, key, speaker, text, said_at):
        if key not in self.line_keys:
            if len(self.line_keys) >= MAX_LINES_PER_CALL:
                self._drop()
                return
            self.line_keys.add(key)
        self.queue.put_nowait(("line", key, speaker, text[:MAX_LINE_CHARS], said_at, None))

    def _drop(self):
        transcript_lines_dropped_total.inc()
        self.lines_dropped += 1
        if self.lines_dropped == 1:
            logger.warning("call %s: %d transcript lines recorded; later lines are dropped", self.call_id,
                           MAX_LINES_PER_CALL)  # fmt: skip

    def usage(self, *, response_id, usage, done_at, then=None):
        """Count one response's usage; `then(counted)` (a coroutine function) runs once it is written."""
        self.queue.put_nowait(("usage", response_id, usage, done_at, None, then))

    def tool_run(self, **fields):
        """One tool run (speech.calls.services.tool_run_record's fields)."""
        self.queue.put_nowait(("tool_run", fields, None, None, None, None))

    async def flush(self):
        if self.task is not None and not self.task.done():
            try:
                await asyncio.wait_for(self.queue.join(), FLUSH_SECONDS)
            except TimeoutError:
                logger.error("call %s: %d records not written in time", self.call_id, self.queue.qsize())

    async def close(self):
        await self.flush()
        if self.task is not None:
            self.task.cancel()

    async def _write(self):
        while True:
            job = await self.queue.get()
            try:
                for attempt in range(1, WRITE_ATTEMPTS + 1):
                    try:
                        await self._do(*job)
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        if attempt == WRITE_ATTEMPTS:
                            # Lost, and logged; the call goes on (a replaced supervisor may see it again).
                            logger.exception("call %s: a record could not be written", self.call_id)
                        else:
                            await asyncio.sleep(RETRY_SECONDS * attempt)
            finally:
                self.queue.task_done()

    async def _do(self, kind, first, second, third, fourth, then):
        if kind == "line":
            await database(call_transcript_append)(
                call_id=self.call_id, key=first, speaker=second, text=third, said_at=fourth
            )
            return
        if kind == "tool_run":
            await database(tool_run_record)(call_id=self.call_id, **first)
            return
        counted = await database(call_usage_record)(
            call_id=self.call_id, model=self.model, response_id=first, usage=second, done_at=third
        )
        if counted:
            for name, count in second.as_dict().items():
                if count:
                    call_tokens_total.labels(*TOKEN_LABELS[name]).inc(count)
        if then is not None:
            await then(counted)
