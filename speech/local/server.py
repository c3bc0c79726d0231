"""The local provider's calls: WebRTC peer connections (aiortc) and WebSocket sessions, on the service's loop.

Every method runs on the service's asyncio loop (speech/local/app.py); nothing here is thread-safe.
"""

import asyncio
import gc
import ipaddress
import logging

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from .call import EchoCall
from .events import new_id

logger = logging.getLogger(__name__)


class CallLimitReached(Exception):
    """No free call slot, in total or for the account; the message says which."""


class InvalidOffer(Exception):
    pass


def rtc_configuration(config):
    """No STUN server unless one is configured: aiortc's default asks a public one (stun.l.google.com)."""
    return RTCConfiguration(iceServers=[RTCIceServer(config.stun)] if config.stun else [])


def candidate_address(line):
    """The address of an SDP `a=candidate:` line in conf.ice_addresses_parse's form; None for a name (mDNS)."""
    fields = line.split()
    try:
        return ipaddress.ip_address(fields[4]).compressed
    except (IndexError, ValueError):
        return None


def sdp_candidates_keep(sdp, addresses):
    """The SDP with only the ICE candidates on `addresses` (all of them when empty).

    aiortc has no public switch for the interfaces its peer binds: aioice binds a socket on every interface
    address but loopback and link-local IPv6, and checks from each. The answer is what the browser learns,
    so it offers only the configured ones.
    """
    if not addresses:
        return sdp
    allowed = set(addresses)
    return "\r\n".join(
        line for line in sdp.split("\r\n")
        if not line.startswith("a=candidate:") or candidate_address(line) in allowed
    )  # fmt: skip


class LocalRealtimeServer:
    def __init__(self, config):
        self.config = config
        self.calls = {}
        self._offers_nothing_warned = False

    def _slot_take(self, account):
        if len(self.calls) >= self.config.max_calls:
            raise CallLimitReached("Too many concurrent calls on the local provider.")
        if sum(call.account == account for call in self.calls.values()) >= self.config.max_calls_per_account:
            raise CallLimitReached("Too many concurrent calls for this account on the local provider.")

    def _call(self, *, pc, session, account, secret_id, output=None):
        config = self.config
        call = EchoCall(
            call_id=new_id("rtc"),
            pc=pc,
            session=session,
            account=account,
            secret_id=secret_id,
            max_seconds=config.max_call_seconds,
            idle_seconds=config.idle_seconds,
            media_timeout=config.media_timeout_seconds,
            first_media_seconds=config.first_media_seconds,
            on_closed=lambda closed: self.calls.pop(closed.id, None),
            output=output,
        )
        # The slot is taken before the first await, so offers answered at the same time cannot overrun it.
        self.calls[call.id] = call
        return call

    async def answer(self, *, offer_sdp, session, account, secret_id=None):
        """Answer a browser's SDP offer for `account` (opened with the client secret `secret_id`, or with the
        account's server key when None); returns (call_id, answer_sdp)."""
        self._slot_take(account)
        pc = RTCPeerConnection(rtc_configuration(self.config))
        call = self._call(pc=pc, session=session, account=account, secret_id=secret_id)
        try:
            if self.config.answer_delay_seconds:
                await asyncio.sleep(self.config.answer_delay_seconds)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            # The track goes in after the offer and before the answer, so the answer is sendrecv.
            pc.addTrack(call.reply)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError and others on a bad offer
            await call.close()
            raise InvalidOffer(str(exc)) from None
        logger.info("local call %s answered for account %s (%d open)", call.id, account, len(self.calls))
        gathered = pc.localDescription.sdp
        answer = sdp_candidates_keep(gathered, self.config.ice_addresses)
        if "\r\na=candidate:" not in answer and not self._offers_nothing_warned:
            self._offers_nothing_warned = True  # once: it is the configuration or the machine, not the call
            addresses = {candidate_address(line) for line in gathered.split("\r\n") if line.startswith("a=candidate:")}
            logger.warning(
                "answers offer no ICE candidate (gathered: %s; LOCAL_REALTIME_ICE_ADDRESSES: %s): only browsers "
                "whose offers carry reachable candidates can connect",
                ", ".join(sorted(map(str, addresses))) or "none, no address but loopback",
                ", ".join(self.config.ice_addresses) or "every address",
            )
        return call.id, answer

    def websocket_call(self, *, session, account, secret_id, output):
        """A call without WebRTC: audio comes in through call.hear(), goes out through `output`."""
        self._slot_take(account)
        call = self._call(pc=None, session=session, account=account, secret_id=secret_id, output=output)
        logger.info("local WebSocket session %s opened for account %s (%d open)", call.id, account, len(self.calls))
        return call

    def call_for(self, call_id, *, account, secret_id=None):
        """The call for its owner: the client secret that opened it, or its account's server key (secret_id
        None). None when there is no such call for this caller, so others learn nothing."""
        call = self.calls.get(call_id)
        if call is None or call.account != account or (secret_id is not None and call.secret_id != secret_id):
            return None
        return call

    async def hang_up(self, call_id, *, account, secret_id=None):
        call = self.call_for(call_id, account=account, secret_id=secret_id)
        if call is None:
            return False
        await call.close()
        return True

    async def close_all(self):
        await asyncio.gather(*(call.close() for call in list(self.calls.values())))

    def counts(self):
        """Open calls, tasks on the loop and live peer connections: what must not grow."""
        gc.collect()  # count live peer connections, not garbage
        return {
            "calls": len(self.calls),
            "tasks": len(asyncio.all_tasks()),
            # type(), not isinstance(): the latter dereferences weak proxies, which may be dead.
            "peer_connections": sum(type(o) is RTCPeerConnection for o in gc.get_objects()),
        }
