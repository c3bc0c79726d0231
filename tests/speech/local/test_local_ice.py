"""Really offline: the local peer asks no STUN server unless configured, and offers only the configured addresses."""

import asyncio
import ipaddress
import socket
import threading

import pytest
from aioice import stun

from speech.local.conf import Config
from speech.local.server import rtc_configuration, sdp_candidates_keep
from tests.servers import start_local_service
from tests.speech.local.conftest import Caller
from tests.speech.local.rtc_client import RtcClient, is_this_machines, offer_sdp
from tests.speech.local.rtc_client import sdp_candidates as candidates

# What a STUN server on the internet would see of this machine (a documentation address, on no interface here).
PUBLIC_VIEW = ("198.51.100.7", 40000)


class FakeStunServer:
    """A STUN server on 127.0.0.1 that answers every Binding request with PUBLIC_VIEW and counts them."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"stun:127.0.0.1:{self.socket.getsockname()[1]}"
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, address = self.socket.recvfrom(2048)
            except OSError:
                return  # closed
            request = stun.parse_message(data)
            self.requests += 1
            response = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                                    transaction_id=request.transaction_id)  # fmt: skip
            response.attributes["XOR-MAPPED-ADDRESS"] = PUBLIC_VIEW
            self.socket.sendto(bytes(response), address)

    def close(self):
        self.socket.close()


@pytest.fixture
def stun_server():
    server = FakeStunServer()
    yield server
    server.close()


def test_no_stun_server_is_asked_by_default():
    # aiortc's own default (iceServers None) asks stun.l.google.com from every call.
    assert rtc_configuration(Config(api_key="x")).iceServers == []


def test_a_configured_stun_server_is_the_only_one():
    (server,) = rtc_configuration(Config(api_key="x", stun="stun:stun.example.org:3478")).iceServers
    assert server.urls == "stun:stun.example.org:3478"


def test_by_default_the_answer_offers_only_this_machines_own_non_loopback_addresses(caller):
    """aioice binds no loopback address, so a browser on this machine reaches the peer on the machine's other
    addresses (traffic between two of a machine's own addresses never leaves it: the kernel loops it back)."""
    response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201
    found = candidates(response.text)
    assert found, "the answer offers this machine's addresses"
    assert {fields[7] for fields in found} == {"host"}  # no server-reflexive address learnt from outside
    offered = {fields[4] for fields in found}
    assert all(is_this_machines(address) for address in offered), offered
    assert not any(ipaddress.ip_address(address).is_loopback for address in offered)


def test_a_configured_stun_server_is_asked_and_its_view_offered(limited, stun_server):
    """The positive control of the default's "no srflx candidate": with a STUN server, one shows."""
    caller = limited(LOCAL_REALTIME_STUN=stun_server.url)
    response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201
    assert stun_server.requests >= 1
    srflx = [fields for fields in candidates(response.text) if fields[7] == "srflx"]
    assert {(fields[4], int(fields[5])) for fields in srflx} == {PUBLIC_VIEW}


def test_behind_nat_the_stun_view_can_be_the_only_address_offered(limited, stun_server):
    """A deployment behind NAT: LOCAL_REALTIME_ICE_ADDRESSES names the public address its STUN server sees."""
    caller = limited(LOCAL_REALTIME_STUN=stun_server.url, LOCAL_REALTIME_ICE_ADDRESSES=PUBLIC_VIEW[0])
    response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201
    assert {(fields[4], fields[7]) for fields in candidates(response.text)} == {(PUBLIC_VIEW[0], "srflx")}


def test_only_the_configured_addresses_are_offered_and_the_call_connects(caller, limited):
    offered = {fields[4] for fields in candidates(caller.post_sdp(asyncio.run(offer_sdp()), caller.key()).text)}
    chosen = sorted(offered)[0]
    narrowed = limited(LOCAL_REALTIME_ICE_ADDRESSES=chosen)

    async def scenario():
        client = RtcClient()
        created = await client.connect(narrowed.post_offer, narrowed.mint())
        answer = client.pc.remoteDescription.sdp
        await client.close()
        return created, answer

    created, answer = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert created["type"] == "session.created"
    assert {fields[4] for fields in candidates(answer)} == {chosen}


def test_candidate_filtering_keeps_everything_else():
    v4, v6 = "a=candidate:1 1 udp 1 192.0.2.2 5000 typ host", "a=candidate:2 1 udp 1 fd00::2 5001 typ host"
    sdp = f"v=0\r\n{v4}\r\n{v6}\r\nm=x\r\n"
    assert sdp_candidates_keep(sdp, ("fd00::2",)) == f"v=0\r\n{v6}\r\nm=x\r\n"
    assert sdp_candidates_keep(sdp, ()) == sdp


def test_candidate_filtering_compares_addresses_not_spellings():
    spelled = "a=candidate:1 1 udp 1 FD00:0:0::2 5000 typ host"
    named = "a=candidate:2 1 udp 1 3c4f-mdns.local 5001 typ host"
    sdp = f"v=0\r\n{spelled}\r\n{named}\r\n"
    assert sdp_candidates_keep(sdp, ("fd00::2",)) == f"v=0\r\n{spelled}\r\n"


def test_addresses_that_match_nothing_gathered_are_logged_once(tmp_path, account):
    """A public address without the STUN server that would report it: the answers offer no candidate."""
    log_path = tmp_path / "local.log"
    with log_path.open("w") as log:
        service = start_local_service(api_key=None, log=log, LOCAL_REALTIME_ICE_ADDRESSES="203.0.113.5")
    try:
        caller = Caller(service, account)
        for _ in range(2):
            response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
            assert response.status_code == 201
            assert candidates(response.text) == []
        caller.close_opened()
    finally:
        service.stop()
    warnings = [line for line in log_path.read_text().splitlines() if "answers offer no ICE candidate" in line]
    assert len(warnings) == 1
    assert "LOCAL_REALTIME_ICE_ADDRESSES: 203.0.113.5" in warnings[0]
