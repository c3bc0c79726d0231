"""Supervision handlers for the dispatch layer's tests: real coroutines with call_supervise's contract (return when
the call has ended, or when `stop` is set without ending it), which say what they did.

SPEECH_SUPERVISOR_HANDLER names one of them in a test's settings or a supervisor process's environment.
"""

import asyncio
import contextlib
import os
import time

from asgiref.sync import sync_to_async

started = []  # (call_id, stop) of waiting_handler, in the test's own process


async def waiting_handler(*, call_id, stop):
    """Holds the call until `stop`."""
    started.append((call_id, stop))
    await stop.wait()


def _log(line):
    # One append per line: several supervisor processes share the file (O_APPEND keeps lines whole).
    with open(os.environ["SUPERVISOR_TEST_LOG"], "a") as log:
        log.write(f"{line} {os.getpid()} {time.time():.3f}\n")


def _call_ended(call_id):
    from django.db import close_old_connections

    from speech.calls.models import Call, CallStatus

    close_old_connections()
    return Call.objects.filter(pk=call_id, status=CallStatus.ENDED).exists()


async def logging_handler(*, call_id, stop):
    """Appends "start <call>", then "ended <call>" once the call's row has ended or "stopped <call>" at `stop`, to the
    file SUPERVISOR_TEST_LOG names, each with the process id and the time."""
    _log(f"start {call_id}")
    while not stop.is_set():
        if await sync_to_async(_call_ended)(call_id):
            _log(f"ended {call_id}")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    _log(f"stopped {call_id}")


async def failing_handler(*, call_id, stop):
    raise RuntimeError("a bug in the handler")
