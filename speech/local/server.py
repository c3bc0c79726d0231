"""The local peer's event loop: one long-lived asyncio loop in a background thread, shared by all calls.

Started on first use, so it works under runserver and make serve's threaded workers alike.
"""

import asyncio
import gc
import logging
import threading

from aiortc import RTCPeerConnection, RTCSessionDescription
from django.conf import settings

from .call import EchoCall
from .events import new_id

logger = logging.getLogger(__name__)


class CallLimitReached(Exception):
    """No free call slot, in total or for the account; the message says which."""


class InvalidOffer(Exception):
    pass


class LocalRealtimeServer:
    def __init__(self):
        self._loop = None
        self._lock = threading.Lock()
        self.calls = {}

    @property
    def loop(self):
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="local-realtime-peer", daemon=True)
                thread.start()
                self._loop = loop
        return self._loop

    def run(self, coroutine, timeout=30):
        """Run `coroutine` on the peer's loop from any thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def answer(self, *, offer_sdp, session, account, secret_id=None):
        """Answer a browser's SDP offer for `account` (opened with the client secret `secret_id`, or with the
        account's server key when None); returns (call_id, answer_sdp)."""
        delay = settings.LOCAL_REALTIME_ANSWER_DELAY_SECONDS
        limits = (settings.LOCAL_REALTIME_MAX_CALLS, settings.LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT)
        return self.run(self._answer(offer_sdp, session, account, secret_id, limits, delay), timeout=delay + 30)

    async def _answer(self, offer_sdp, session, account, secret_id, limits, delay):
        max_calls, max_per_account = limits
        if len(self.calls) >= max_calls:
            raise CallLimitReached("Too many concurrent calls on the local provider.")
        if sum(call.account == account for call in self.calls.values()) >= max_per_account:
            raise CallLimitReached("Too many concurrent calls for this account on the local provider.")
        pc = RTCPeerConnection()
        call = EchoCall(
            call_id=new_id("rtc"),
            pc=pc,
            session=session,
            account=account,
            secret_id=secret_id,
            max_seconds=settings.LOCAL_REALTIME_MAX_CALL_SECONDS,
            idle_seconds=settings.LOCAL_REALTIME_IDLE_SECONDS,
            media_timeout=settings.LOCAL_REALTIME_MEDIA_TIMEOUT_SECONDS,
            on_closed=lambda closed: self.calls.pop(closed.id, None),
        )
        # The slot is taken before the first await, so offers answered at the same time cannot overrun it.
        self.calls[call.id] = call
        try:
            if delay:
                await asyncio.sleep(delay)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            # The track goes in after the offer and before the answer, so the answer is sendrecv.
            pc.addTrack(call.reply)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError and others on a bad offer
            await call.close()
            raise InvalidOffer(str(exc)) from None
        logger.info("local call %s answered for account %s (%d open)", call.id, account, len(self.calls))
        return call.id, pc.localDescription.sdp

    def hang_up(self, call_id, *, account, secret_id=None):
        """Close a call for its owner: the client secret that opened it, or its account's server key
        (secret_id None). False when there is no such call for this caller, so others learn nothing."""

        async def hang_up():
            call = self.calls.get(call_id)
            if call is None or call.account != account or (secret_id is not None and call.secret_id != secret_id):
                return False
            await call.close()
            return True

        return self.run(hang_up())

    def close_all(self):
        async def close_all():
            await asyncio.gather(*(call.close() for call in list(self.calls.values())))

        if self._loop is not None:
            self.run(close_all())

    def counts(self):
        """Open calls, tasks on the loop and threads in the process: what must not grow."""

        async def count():
            gc.collect()  # count live peer connections, not garbage
            return {
                "calls": len(self.calls),
                "tasks": len(asyncio.all_tasks()) - 1,
                # type(), not isinstance(): the latter dereferences weak proxies, which may be dead.
                "peer_connections": sum(type(o) is RTCPeerConnection for o in gc.get_objects()),
            }

        counts = self.run(count())
        counts["threads"] = threading.active_count()
        return counts


server = LocalRealtimeServer()
