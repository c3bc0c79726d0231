import asyncio

import pytest
from django.test import Client

from speech.local.accounts import account_key
from speech.local.server import server
from speech.providers.local import local_api_key

CALLS_URL = "/local-realtime/v1/realtime/calls"
MINT_URL = "/local-realtime/v1/realtime/client_secrets"


def tenant_key(account):
    """The local provider's server key of `account`, as the gateway derives it for a tenant."""
    return account_key(master=local_api_key(), account=account)


@pytest.fixture
def mint(client):
    """Mints a local client secret through the HTTP endpoint, like the gateway does (for `key`'s account)."""

    def mint(session=None, *, key=None, **body):
        body = {"session": session or {"type": "realtime", "model": "local-echo"}, **body}
        response = client.post(
            MINT_URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key or local_api_key()}"
        )
        assert response.status_code == 200, response.content
        return response.json()["value"]

    return mint


@pytest.fixture
def post_offer():
    """Posts an SDP offer to the calls endpoint from a worker thread, as a browser would."""
    client = Client()

    async def post_offer(sdp, secret):
        return await asyncio.to_thread(
            client.post, CALLS_URL, data=sdp, content_type="application/sdp", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )

    return post_offer


@pytest.fixture(autouse=True)
def _no_calls_left_behind():
    yield
    server.close_all()
