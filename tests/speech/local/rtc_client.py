"""A real WebRTC client (aiortc) for the local peer: a microphone track, the data channel, a listener."""

import asyncio
import ipaddress
import json
import socket

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from speech.local.audio import ReplyTrack, level_dbfs, to_mono


class RtcClient:
    def __init__(self):
        self.pc = RTCPeerConnection()
        self.microphone = ReplyTrack()
        self.pc.addTrack(self.microphone)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events = asyncio.Queue()
        self.received = []
        self.loudest_dbfs = -120.0
        self.location = None
        self._listener = None
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)

    def _on_message(self, raw):
        event = json.loads(raw)
        self.received.append(event)
        self.events.put_nowait(event)

    def _on_track(self, track):
        self._listener = asyncio.ensure_future(self._listen(track))

    async def _listen(self, track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.loudest_dbfs = max(self.loudest_dbfs, level_dbfs(to_mono(frame)))

    async def connect(self, post_offer, secret, timeout=10):
        """Negotiate through `post_offer(sdp, secret) -> response`; wait for session.created."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await post_offer(self.pc.localDescription.sdp, secret)
        assert response.status_code == 201, response.text
        self.location = response.headers["Location"]
        answer = response.text
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return await self.wait_for("session.created", timeout)

    async def wait_for(self, event_type, timeout=10):
        async def wait():
            while True:
                event = await self.events.get()
                if event["type"] == event_type:
                    return event

        return await asyncio.wait_for(wait(), timeout)

    def send(self, event):
        self.channel.send(json.dumps(event))

    def speak(self, samples):
        return self.microphone.play(samples)

    async def close(self):
        if self._listener:
            self._listener.cancel()
        self.microphone.stop()
        await self.pc.close()


def silence(seconds):
    return np.zeros(int(seconds * 48000), dtype=np.int16)


async def offer_sdp():
    """A browser-like offer (audio and the data channel) from a peer connection closed at once."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def sdp_candidates(sdp):
    """The fields of each `a=candidate:` line of an SDP (address at 4, port at 5, type at 7)."""
    return [line.split() for line in sdp.splitlines() if line.startswith("a=candidate:")]


def is_this_machines(address):
    """Whether `address` is one of this machine's own (only those can be bound)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True
