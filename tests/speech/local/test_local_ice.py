"""Really offline: the local peer asks no STUN server unless configured, and offers only the configured addresses."""

import asyncio

from speech.local.conf import Config
from speech.local.server import rtc_configuration, sdp_candidates_keep
from tests.speech.local.rtc_client import RtcClient, offer_sdp


def candidates(sdp):
    return [line.split() for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_no_stun_server_is_asked_by_default():
    # aiortc's own default (iceServers None) asks stun.l.google.com from every call.
    assert rtc_configuration(Config(api_key="x")).iceServers == []


def test_a_configured_stun_server_is_the_only_one():
    (server,) = rtc_configuration(Config(api_key="x", stun="stun:stun.example.org:3478")).iceServers
    assert server.urls == "stun:stun.example.org:3478"


def test_the_answer_offers_only_host_candidates_by_default(caller):
    response = caller.post_sdp(asyncio.run(offer_sdp()), caller.key())
    assert response.status_code == 201
    found = candidates(response.text)
    assert found, "the answer offers this machine's addresses"
    assert {fields[7] for fields in found} == {"host"}  # no server-reflexive address learnt from outside


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
