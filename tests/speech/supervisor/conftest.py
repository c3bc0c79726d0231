"""A supervised call: a real WebRTC call (aiortc) to the real local provider process, its Call row, and
call_supervise() running in the same event loop as the caller."""

import asyncio
import secrets
import time

import pytest
import requests
from asgiref.sync import sync_to_async
from django.utils import timezone
from prometheus_client import REGISTRY

from settings_admin.models import SpeechSettings, Tenant
from speech.calls.models import Call, CallPolicy, CallStatus
from speech.supervisor import session as session_module
from speech.supervisor.session import call_supervise
from tests.speech.local.rtc_client import RtcClient

SESSION = {
    "type": "realtime",
    "model": "local-echo",
    "audio": {"input": {"transcription": {"model": "any"}, "turn_detection": {"type": "server_vad"}}},
}


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def until(condition, seconds=15, step=0.05):
    """Waits for `condition()` (a plain function, run on the database thread) to hold; returns its value."""
    check = sync_to_async(condition, thread_sensitive=True)
    deadline = time.monotonic() + seconds
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition.__name__} did not hold within {seconds} s")
        await asyncio.sleep(step)
    return value


class Supervised:
    """One tenant on the local provider, and what a test needs to open and supervise its calls."""

    def __init__(self, service, tenant):
        self.service = service
        self.tenant = tenant
        self.key = service.key(tenant.slug)  # the key the gateway derives for the tenant (same account)
        self.rtc = None
        self.provider_call_id = None
        self.session_id = None
        self.tools = ()  # function tools the minted session carries (as minting sends them)

    def policy(self, **fields):
        CallPolicy.objects.update_or_create(tenant=self.tenant, defaults=fields)

    def mint(self):
        response = requests.post(
            f"{self.service.v1}/realtime/client_secrets", timeout=10,
            json={"session": {**SESSION, "tools": list(self.tools)} if self.tools else SESSION},
            headers={"Authorization": f"Bearer {self.key}"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    async def open(self):
        """A WebRTC call as a browser opens one with a minted secret; returns the RtcClient."""
        minted = await asyncio.to_thread(self.mint)
        self.session_id = minted["session"]["id"]
        self.rtc = RtcClient()

        async def post_offer(sdp, secret):
            return await asyncio.to_thread(
                requests.post, f"{self.service.v1}/realtime/calls", data=sdp.encode(), timeout=30,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"},
            )  # fmt: skip

        await self.rtc.connect(post_offer, minted["value"])
        self.provider_call_id = self.rtc.location.rsplit("/", 1)[-1]
        return self.rtc

    def call_create(self, **fields):
        now = timezone.now()
        values = {
            "tenant": self.tenant, "provider": "local", "model": "local-echo", "voice": "verse",
            "webrtc_mode": "direct", "provider_session_id": self.session_id or "",
            "provider_call_id": self.provider_call_id or "", "status": CallStatus.ACTIVE, "minted_at": now,
            "connected_at": now, "records_transcript": True, **fields,
        }  # fmt: skip
        return Call.objects.create(**values)

    async def supervise(self, call, stop=None):
        """call_supervise() as a task, once its sideband is open."""
        joined = metric("calls_active")
        task = asyncio.ensure_future(call_supervise(call_id=str(call.pk), stop=stop or asyncio.Event()))
        deadline = time.monotonic() + 10
        while metric("calls_active") <= joined and not task.done():
            assert time.monotonic() < deadline, "the supervisor did not join"
            await asyncio.sleep(0.02)
        return task

    def say(self, text):
        self.rtc.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            }
        )
        self.rtc.send({"type": "response.create"})  # fmt: skip

    def provider_has_call(self):
        """Whether the local provider still holds the call (a hang-up with the account's key finds it)."""
        response = requests.post(
            f"{self.service.v1}/realtime/calls/{self.provider_call_id}/hangup", timeout=10,
            headers={"Authorization": f"Bearer {self.key}"},
        )  # fmt: skip
        return response.status_code == 200


@pytest.fixture(autouse=True)
def _fresh_month_readings():
    """The supervisor's per-process budget readings start empty (a flushed database may reuse a tenant id)."""
    session_module.budget_readings_clear()
    yield
    session_module.budget_readings_clear()


@pytest.fixture
def supervised(transactional_db, local_provider):
    tenant = Tenant.objects.create(slug="sup" + secrets.token_hex(5), name="Supervised")
    SpeechSettings.objects.create(tenant=tenant, provider="local", model="local-echo", voice="verse")
    supervised = Supervised(local_provider, tenant)
    yield supervised
    if supervised.provider_call_id:
        supervised.provider_has_call()  # hangs it up if a test left it running


def run(coroutine, seconds=60):
    return asyncio.run(asyncio.wait_for(coroutine, seconds))
