"""Built-in tool handlers for the supervisor's tests (SPEECH_TOOLS names them)."""

import asyncio


def explode(*, arguments, context):
    raise RuntimeError("a bug in the built-in")


async def pause(*, arguments, context):
    await asyncio.sleep(arguments.get("seconds", 0))
    return {"paused": arguments.get("seconds", 0)}
