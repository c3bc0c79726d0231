"""The local provider's tests drive its service as a real process (tests/conftest.py local_services), over HTTP
and WebSocket, as the gateway and a browser do."""

import asyncio
import secrets

import pytest
import requests

MINT_PATH = "/v1/realtime/client_secrets"
CALLS_PATH = "/v1/realtime/calls"


@pytest.fixture
def service(local_service):
    return local_service


@pytest.fixture
def account():
    """An account of this test's own, so no other test's calls or rate windows count against it."""
    return "t" + secrets.token_hex(6)


class Caller:
    """Requests to one local service, remembering every call opened so the test leaves none behind."""

    def __init__(self, service, account):
        self.service = service
        self.account = account
        self.opened = []  # (location, bearer that may hang it up)

    def key(self, account=None):
        return self.service.key(account or self.account)

    def mint_request(self, body=None, *, key=None):
        return requests.post(
            f"{self.service.url}{MINT_PATH}", json=body if body is not None else {}, timeout=10,
            headers={"Authorization": f"Bearer {key or self.key()}"},
        )  # fmt: skip

    def mint(self, session=None, *, key=None, **body):
        body = {"session": session or {"type": "realtime", "model": "local-echo"}, **body}
        response = self.mint_request(body, key=key)
        assert response.status_code == 200, response.text
        return response.json()["value"]

    def post_sdp(self, sdp, bearer, content_type="application/sdp"):
        response = requests.post(
            f"{self.service.url}{CALLS_PATH}", data=sdp.encode(), timeout=30,
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": content_type},
        )  # fmt: skip
        if response.status_code == 201:
            self.opened.append((response.headers["Location"], bearer))
        return response

    async def post_offer(self, sdp, bearer):
        """Posts an SDP offer from a worker thread, as a browser would (the test's loop runs its WebRTC)."""
        return await asyncio.to_thread(self.post_sdp, sdp, bearer)

    def post_multipart(self, sdp, key, session='{"type": "realtime", "model": "local-echo"}'):
        response = requests.post(
            f"{self.service.url}{CALLS_PATH}", files={"sdp": (None, sdp), "session": (None, session)}, timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        if response.status_code == 201:
            self.opened.append((response.headers["Location"], key))
        return response

    def hang_up(self, location, bearer):
        return requests.post(
            f"{self.service.url}{location}/hangup", timeout=10, headers={"Authorization": f"Bearer {bearer}"}
        )

    def close_opened(self):
        for location, bearer in self.opened:
            self.hang_up(location, bearer)


@pytest.fixture
def caller(service, account):
    caller = Caller(service, account)
    yield caller
    caller.close_opened()


@pytest.fixture
def limited(local_services, account):
    """A Caller on a service started with the given limits (LOCAL_REALTIME_* names), for this test's account."""
    callers = []

    def limited(**settings):
        caller = Caller(local_services(**settings), account)
        callers.append(caller)
        return caller

    yield limited
    for caller in callers:
        caller.close_opened()
