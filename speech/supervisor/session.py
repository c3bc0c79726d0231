"""One call's supervisor: the sideband WebSocket to the live call, with the tenant's server key.

call_supervise() joins the call, records its transcript (when the call records one) and the usage of every
response.done, enforces the tenant's limits (a spoken notice, the provider's hang-up, the call's end), re-joins
after a drop, and ends the call record when the call is gone. It never raises for a provider's fault, and it
returns without ending the call when `stop` is set (another supervisor re-joins).
"""

import asyncio
import contextlib
import functools
import json
import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from settings_admin.registry import ProviderNotFound, registry
from settings_admin.selectors import speech_settings_for_tenant

from .. import errors
from ..calls.models import BudgetUnit, Call, CallStatus, EndReason, Speaker
from ..calls.policy import CallPolicyView, call_policy_get
from ..calls.selectors import month_spent
from ..calls.services import call_end
from ..calls.usage import TokenUsage, usage_cost
from ..ops.metrics import (
    call_duration_seconds,
    calls_active,
    calls_refused_total,
    calls_unsupervised_total,
    sideband_event_seconds,
    sideband_reconnects_total,
)
from ..services import endpoint_checked, provider_credential_get
from .limits import NOTICE_METADATA, budget_spent, idle_limit_reached, notice_event, time_limit_reached
from .recorder import Recorder, database
from .tools import ToolRunner

logger = logging.getLogger("speech.supervisor")

# Re-joining after a drop: at once, then after BACKOFF_SECONDS doubling up to BACKOFF_MAX_SECONDS, at most
# REJOIN_ATTEMPTS times in a row before the call counts as lost.
REJOIN_ATTEMPTS = 6
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
OPEN_TIMEOUT_SECONDS = 10.0
STABLE_SECONDS = 5.0  # a sideband open this long before it drops starts the re-join count afresh
TICK_SECONDS = 0.5  # how often the time and idle limits are checked
BUDGET_CHECK_SECONDS = 15.0  # how often a call checks its tenant's month (a reading this old may serve)
FRESH_SECONDS = 1.0  # how old a reading may be when a call joins
NOTICE_SECONDS = 10.0  # how long the spoken notice may take before the hang-up
CANCEL_SECONDS = 3.0  # how long a response in progress may take to end before the notice
NOTICE_BUSY = "busy"  # the notice was refused: another response is in progress
HANG_UP_ATTEMPTS = 2
MAX_EVENT_BYTES = 8 * 1024 * 1024


class Unsupervisable(Exception):
    """The call cannot be joined: `end_reason` ends it (None leaves it as it is); the message says why."""

    def __init__(self, message, *, end_reason=None, metric="unavailable"):
        super().__init__(message)
        self.end_reason = end_reason
        self.metric = metric


@dataclass(frozen=True)
class Target:
    """What joining one call takes, read from the Call row and its tenant's settings."""

    call_id: str
    tenant_id: int
    model: str
    provider: object
    endpoint: str
    options: dict
    api_key: str
    provider_call_id: str
    provider_session_id: str
    records_transcript: bool
    connected_at: datetime
    policy: CallPolicyView
    user_id: int | None = None  # the minting user, told to webhook tools
    tenant_slug: str = ""


def target_load(*, call_id):
    """The Target of an active call, or None when there is nothing to supervise (no such call, or ended)."""
    try:
        uuid.UUID(str(call_id))
    except ValueError:
        return None  # a job naming no call (a queue is input too)
    call = Call.objects.filter(pk=call_id).select_related("tenant").first()
    if call is None or call.status == CallStatus.ENDED:
        return None
    if not call.provider_call_id:
        raise Unsupervisable("the provider's call id is not known yet", metric="no_call_id")
    provider_error = {"end_reason": EndReason.PROVIDER_ERROR, "metric": "provider_error"}
    speech_settings = speech_settings_for_tenant(tenant_id=call.tenant_id)
    if speech_settings is None:
        raise Unsupervisable("the tenant is not active", **provider_error)
    if speech_settings.provider != call.provider:
        # The key and endpoint now belong to another provider: neither may be sent to this call's.
        raise Unsupervisable(f"the tenant moved from {call.provider} to {speech_settings.provider}", **provider_error)
    try:
        provider = registry.get(call.provider)
    except ProviderNotFound:
        raise Unsupervisable(f"provider {call.provider} is not installed", **provider_error) from None
    if provider.call_id_problem(call.provider_call_id):
        raise Unsupervisable("the provider's call id is malformed", **provider_error)
    options = dict(speech_settings.options)
    problem = provider.sideband_problem(options=options)
    if problem:
        raise Unsupervisable(problem, metric="no_sideband")
    try:  # the rule of the mint holds here too: the key goes only where the operator allows
        endpoint = endpoint_checked(speech_settings=speech_settings)
    except errors.EndpointNotAllowed:
        raise Unsupervisable("the tenant's endpoint is not on a host the operator allows", **provider_error) from None
    try:
        api_key = provider_credential_get(speech_settings=speech_settings)
    except errors.SpeechError as exc:
        raise Unsupervisable(f"no server key ({exc.code})", **provider_error) from None
    return Target(
        call_id=str(call.pk),
        tenant_id=call.tenant_id,
        model=call.model,
        provider=provider,
        endpoint=endpoint,
        options=options,
        api_key=api_key,
        provider_call_id=call.provider_call_id,
        provider_session_id=call.provider_session_id if provider.sideband_names_minted_session else "",
        records_transcript=call.records_transcript,
        connected_at=call.connected_at or timezone.now(),
        policy=call_policy_get(tenant_id=call.tenant_id),
        user_id=call.user_id,
        tenant_slug=call.tenant.slug,
    )


# The month's spending per (tenant, unit), as this process last read it: the calls of one tenant share a reading
# (the sum is one aggregate query; a thousand calls must not each run it). Read and written on the database thread.
_month_readings = {}


def budget_readings_clear():
    _month_readings.clear()


def _budget_spent(target, *, max_age, used=None):
    """Whether the tenant's budget is spent, from a reading at most `max_age` seconds old; `used` (this call's
    response just counted, in the budget's unit) is added to the reading first."""
    policy = target.policy
    if policy.monthly_budget is None:
        return False
    key = (target.tenant_id, policy.budget_unit)
    reading = _month_readings.get(key)
    if reading is not None and used:
        reading = _month_readings[key] = (reading[0], reading[1] + used)
    if reading is None or time.monotonic() - reading[0] > max_age:
        spent = month_spent(tenant_id=target.tenant_id, unit=policy.budget_unit, now=timezone.now())
        reading = _month_readings[key] = (time.monotonic(), spent)
    return budget_spent(policy=policy, spent=reading[1])


def _call_finish(*, call_id, reason, connected_at):
    ended = call_end(call_id=call_id, reason=reason)
    if ended and connected_at is not None:
        call_duration_seconds.labels(reason).observe((timezone.now() - connected_at).total_seconds())
    return ended


async def call_supervise(*, call_id: str, stop: asyncio.Event) -> None:
    """Supervise the call `call_id` until it ends, or until `stop` is set (the call is then left running)."""
    try:
        target = await database(target_load)(call_id=call_id)
    except Unsupervisable as exc:
        calls_unsupervised_total.labels(exc.metric).inc()
        if exc.end_reason is None:
            logger.warning("call %s: not supervised: %s", call_id, exc)
        else:
            logger.error("call %s: ended (%s): %s", call_id, exc.end_reason, exc)
            await _end_quietly(call_id=call_id, reason=exc.end_reason, connected_at=None)
        return
    except Exception:
        logger.exception("call %s: could not be loaded; not supervised", call_id)
        calls_unsupervised_total.labels("load_failed").inc()
        return
    if target is None:
        logger.info("call %s: nothing to supervise (no such call, or ended)", call_id)
        return
    supervisor = CallSupervisor(target=target, stop=stop)
    try:
        await supervisor.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("call %s: the supervisor failed", call_id)
        await _end_quietly(call_id=call_id, reason=EndReason.SUPERVISOR_LOST, connected_at=target.connected_at)


async def _end_quietly(*, call_id, reason, connected_at):
    try:
        await database(_call_finish)(call_id=call_id, reason=reason, connected_at=connected_at)
    except Exception:
        logger.exception("call %s: could not be ended (%s)", call_id, reason)


@functools.cache
def _tls_context(cafile):
    """One verifying TLS context per CA bundle (REQUESTS_CA_BUNDLE / SSL_CERT_FILE, as the providers' HTTP uses),
    shared by every sideband: a context holds the whole CA store."""
    return ssl.create_default_context(cafile=cafile)


class SidebandGone(Exception):
    """The sideband closed while the supervisor was sending."""


class CallSupervisor:
    def __init__(self, *, target, stop):
        self.target = target
        self.stop = stop
        self.recorder = Recorder(call_id=target.call_id, model=target.model)
        self.last_activity = time.monotonic()
        self.ws = None
        self.refused = False
        self.limit = None  # the EndReason of a limit reached
        self.limit_seen = asyncio.Event()
        self.active_responses = set()
        self.response_ended = asyncio.Event()
        self.notice_done = None  # a future, while a notice is being said
        self.notice_event_id = None
        self.turn_detection = None  # the session's voice activity config, as its last session event told it
        self.tools = ToolRunner(self)

    # --- the connection ------------------------------------------------------------------------------

    async def run(self):
        target = self.target
        self.recorder.start()
        counted = False
        attempts = 0
        outcome = None
        try:
            if await database(_budget_spent)(target, max_age=FRESH_SECONDS):
                self.limit = EndReason.BUDGET
            while outcome is None and not self.stop.is_set():
                if attempts:
                    if attempts > REJOIN_ATTEMPTS:
                        # Hung up rather than left running without limits; gone already means it ended.
                        gone = await self._hang_up() is False
                        if not gone:
                            logger.error("call %s: the sideband could not be re-joined; the call is lost",
                                         target.call_id)  # fmt: skip
                        outcome = EndReason.HUNG_UP if gone else EndReason.SUPERVISOR_LOST
                        break
                    if await self._stopped_within(self._backoff(attempts)):
                        break
                try:
                    ws = await self._open_unless_stopped()
                    if ws is None:
                        break
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status == 404:  # the provider knows no such call (any more): it ended
                        outcome = EndReason.HUNG_UP
                    elif status in (401, 403):
                        logger.error("call %s: the provider refused the server key (HTTP %s)", target.call_id, status)
                        outcome = EndReason.PROVIDER_ERROR
                    else:
                        logger.warning("call %s: sideband refused (HTTP %s); retrying", target.call_id, status)
                        attempts += 1
                    continue
                except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                    logger.warning("call %s: sideband failed to open (%s); retrying", target.call_id,
                                   type(exc).__name__)  # fmt: skip
                    attempts += 1
                    continue
                if counted:
                    sideband_reconnects_total.inc()
                else:
                    calls_active.inc()
                    counted = True
                opened = time.monotonic()
                outcome = await self._serve(ws)
                if outcome is None and not self.stop.is_set():
                    logger.info("call %s: sideband dropped; re-joining", target.call_id)
                    # A sideband that held counts as a first failure; one dropped at once as one more in a row.
                    attempts = 1 if time.monotonic() - opened >= STABLE_SECONDS else attempts + 1
        finally:
            await self.tools.close()  # runs still going are cut short (the call is over); their rows are not kept
            await self.recorder.close()
            if counted:
                calls_active.dec()
        if outcome is not None:  # known even if `stop` came meanwhile (a limit's hang-up done): recorded now
            ended = await database(_call_finish)(
                call_id=target.call_id, reason=outcome, connected_at=target.connected_at
            )
            logger.info("call %s: %s (%s)", target.call_id, "ended" if ended else "already ended", outcome)

    def _backoff(self, attempts):
        if attempts == 1:
            return 0.0  # a clean close usually means the call ended: a re-join at once finds out
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2 ** (attempts - 2))
        return delay * random.uniform(0.8, 1.2)

    async def _stopped_within(self, seconds):
        if seconds <= 0:
            return self.stop.is_set()
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _open_unless_stopped(self):
        """The open sideband, or None when `stop` is set first (a shutdown does not wait for a handshake)."""
        opener = asyncio.ensure_future(self.sideband_open())
        stopper = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({opener, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not opener.done():
            opener.cancel()
            await asyncio.gather(opener, return_exceptions=True)
            return None
        return opener.result()

    async def sideband_open(self):
        target = self.target
        url = target.provider.sideband_url(endpoint=target.endpoint, call_id=target.provider_call_id)
        ssl_context = None
        if url.startswith("wss://"):
            ssl_context = _tls_context(target.provider.ca_bundle)
        return await connect(
            url,
            additional_headers=target.provider.sideband_headers(api_key=target.api_key, options=target.options),
            ssl=ssl_context,
            proxy=None,  # the server key goes to the endpoint itself, never through a proxy from the environment
            compression=None,  # a deflate context per connection costs memory a thousand calls would feel
            open_timeout=OPEN_TIMEOUT_SECONDS,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            max_size=MAX_EVENT_BYTES,
            user_agent_header=None,
        )

    async def _serve(self, ws):
        """Read the sideband until it drops (None), `stop` is set (None) or the call must end (its EndReason)."""
        self.ws = ws
        self.active_responses.clear()
        reader = asyncio.ensure_future(self._read(ws))
        limiter = asyncio.ensure_future(self._enforce())
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({reader, limiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper.done():
                return None
            if self.refused:
                return EndReason.NOT_OWNED
            if limiter.done() and limiter.exception() is None:
                await self._hang_up()
                return limiter.result()
            if self.limit is not None:  # the sideband dropped while the notice was said: hang up all the same
                await self._hang_up()
                return self.limit
            return None
        finally:
            for task in (reader, limiter, stopper):
                task.cancel()
            await asyncio.gather(reader, limiter, stopper, return_exceptions=True)
            self.ws = None
            await ws.close()

    async def _read(self, ws):
        try:
            async for message in ws:
                started = time.perf_counter()
                self.handle(message)
                sideband_event_seconds.observe(time.perf_counter() - started)
                if self.refused:
                    return
        except ConnectionClosed:
            return

    async def _send(self, event):
        try:
            await self.ws.send(json.dumps(event))
        except ConnectionClosed:
            raise SidebandGone() from None

    async def send_if_open(self, event):
        """Sends `event` on the sideband if it is open; returns whether it was sent (a tool's answer is recorded
        whether or not it could be)."""
        if self.ws is None:
            return False
        try:
            await self._send(event)
        except SidebandGone:
            return False
        return True

    # --- events -------------------------------------------------------------------------------------

    def handle(self, message):
        """One server event. Provider output: anything malformed is skipped, never raised."""
        try:
            event = json.loads(message)
        except (ValueError, TypeError, RecursionError):
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        handler = self.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return
        try:
            handler(self, event)
        except Exception:
            logger.exception("call %s: event %s could not be handled", self.target.call_id, kind)

    def _active(self, event=None):
        self.last_activity = time.monotonic()

    def _session(self, event):
        session = event.get("session")
        audio = session.get("audio") if isinstance(session, dict) else None
        audio_input = audio.get("input") if isinstance(audio, dict) else None
        if isinstance(audio_input, dict) and "turn_detection" in audio_input:
            turn_detection = audio_input["turn_detection"]
            self.turn_detection = turn_detection if isinstance(turn_detection, dict) else None
        if isinstance(session, dict):
            self.tools.session_seen(session)
        session_id = session.get("id") if isinstance(session, dict) else None
        expected = self.target.provider_session_id
        if expected and isinstance(session_id, str) and session_id and session_id != expected:
            logger.warning("call %s: the provider's session %s is not the minted %s; detaching",
                           self.target.call_id, session_id[:64], expected)  # fmt: skip
            calls_refused_total.inc()
            self.refused = True

    def _line(self, event, *, speaker, text):
        if not self.target.records_transcript or not isinstance(text, str) or not text.strip():
            return
        item_id, index = event.get("item_id"), event.get("content_index", 0)
        if not isinstance(item_id, str) or not item_id or type(index) is not int:
            return
        self.recorder.line(key=f"{item_id}:{index}", speaker=speaker, text=text, said_at=timezone.now())

    def _user_transcript(self, event):
        self._active()
        self._line(event, speaker=Speaker.USER, text=event.get("transcript"))

    def _user_item(self, event):
        """A typed user message (conversation.item.done): its text parts are lines of their own."""
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "message" or item.get("role") != "user":
            return
        content = item.get("content") if isinstance(item.get("content"), list) else []
        for index, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "input_text":
                self._line({"item_id": item.get("id"), "content_index": index}, speaker=Speaker.USER,
                           text=part.get("text"))  # fmt: skip

    def _assistant_audio(self, event):
        self._line(event, speaker=Speaker.ASSISTANT, text=event.get("transcript"))

    def _assistant_text(self, event):
        self._line(event, speaker=Speaker.ASSISTANT, text=event.get("text"))

    def _response_created(self, event):
        self._active()
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        if isinstance(response.get("id"), str):
            self.active_responses.add(response["id"])

    def _response_done(self, event):
        self._active()
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        response_id = response.get("id")
        if not isinstance(response_id, str) or not response_id:
            return
        self.active_responses.discard(response_id)
        self.response_ended.set()
        for item in response.get("output") if isinstance(response.get("output"), list) else []:
            if isinstance(item, dict) and item.get("type") == "function_call":  # once per call id, as args.done
                self.tools.function_call(call_id=item.get("call_id"), name=item.get("name"),
                                         arguments=item.get("arguments"))  # fmt: skip
        self.tools.response_ended()
        metadata = response.get("metadata") if isinstance(response.get("metadata"), dict) else {}
        if NOTICE_METADATA in metadata and self.notice_done is not None and not self.notice_done.done():
            self.notice_done.set_result(True)
        usage = TokenUsage.from_response_usage(response.get("usage"))
        then = functools.partial(self._response_counted, usage=usage)
        self.recorder.usage(response_id=response_id, usage=usage, done_at=timezone.now(), then=then)

    def _function_call(self, event):
        self.tools.function_call(call_id=event.get("call_id"), name=event.get("name"), arguments=event.get("arguments"))

    def _item_added(self, event):
        self._active()
        if isinstance(event.get("item"), dict):
            self.tools.item_seen(event["item"])

    def _item_done(self, event):
        self._user_item(event)
        if isinstance(event.get("item"), dict):
            self.tools.item_seen(event["item"])

    def _error(self, event):
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        notice = self.notice_done
        if error.get("event_id") != self.notice_event_id or notice is None or notice.done():
            return
        if error.get("code") == "conversation_already_has_active_response":
            notice.set_result(NOTICE_BUSY)  # asked again once that response is cut short
        else:
            logger.warning("call %s: the provider refused the notice (%s)", self.target.call_id,
                           str(error.get("code"))[:64])  # fmt: skip
            notice.set_result(False)

    HANDLERS = {
        "session.created": _session,
        "session.updated": _session,
        "input_audio_buffer.speech_started": _active,
        "conversation.item.added": _item_added,
        "conversation.item.created": _item_added,  # the beta interface's name
        "conversation.item.input_audio_transcription.completed": _user_transcript,
        "conversation.item.done": _item_done,
        "response.function_call_arguments.done": _function_call,
        "response.output_audio_transcript.done": _assistant_audio,
        "response.output_text.done": _assistant_text,
        "response.created": _response_created,
        "response.done": _response_done,
        "error": _error,
    }

    # --- limits -------------------------------------------------------------------------------------

    async def _budget_check(self, *, max_age, used=None):
        if self.limit is not None or self.target.policy.monthly_budget is None:
            return
        if await database(_budget_spent)(self.target, max_age=max_age, used=used):
            self.limit_reached(EndReason.BUDGET)

    async def _response_counted(self, counted, *, usage):
        """A response's usage was written: tokens and cost budgets are checked with it added (minutes grow
        with time alone, which the periodic check has)."""
        unit = self.target.policy.budget_unit
        if not counted or unit == BudgetUnit.MINUTES:
            return
        if unit == BudgetUnit.TOKENS:
            used = Decimal(usage.input_text_tokens + usage.input_audio_tokens + usage.output_text_tokens
                           + usage.output_audio_tokens)  # fmt: skip
        else:
            used = usage_cost(model=self.target.model, usage=usage)
        await self._budget_check(max_age=BUDGET_CHECK_SECONDS, used=used)

    def limit_reached(self, reason):
        if self.limit is None:
            self.limit = reason
        self.limit_seen.set()

    async def _enforce(self):
        """Wait for a limit, then say the notice; returns the limit's EndReason (the caller hangs up)."""
        policy = self.target.policy
        next_budget_check = time.monotonic() + BUDGET_CHECK_SECONDS
        while self.limit is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.limit_seen.wait(), TICK_SECONDS)
            now = time.monotonic()
            talked = (timezone.now() - self.target.connected_at).total_seconds()
            if time_limit_reached(policy=policy, talked_seconds=talked):
                self.limit_reached(EndReason.TIME_LIMIT)
            elif (
                not self.active_responses
                and not self.tools.tasks  # a tool still running is not silence
                and idle_limit_reached(policy=policy, idle_seconds=now - self.last_activity)
            ):
                self.limit_reached(EndReason.IDLE)
            elif policy.monthly_budget is not None and now >= next_budget_check:
                next_budget_check = now + BUDGET_CHECK_SECONDS
                await self._budget_check(max_age=BUDGET_CHECK_SECONDS)
        logger.info("call %s: limit reached (%s); saying the notice", self.target.call_id, self.limit)
        with contextlib.suppress(SidebandGone):  # the caller hangs up all the same
            await self._notice(self.limit)
        return self.limit

    async def _notice(self, reason):
        """Cut a response in progress short, then have the model say the notice; bounded either way. A notice
        refused because a response began meanwhile (the answer to the user's last turn) is cut short and asked
        again: the call must not end unannounced."""
        deadline = time.monotonic() + NOTICE_SECONDS
        if self.turn_detection is not None:
            # The user's speech neither cuts the notice off nor starts an answer of its own: the call is ending.
            quiet = {**self.turn_detection, "create_response": False, "interrupt_response": False}
            session = {"type": "realtime", "audio": {"input": {"turn_detection": quiet}}}
            await self._send({"type": "session.update", "session": session})
        self.notice_event_id = f"event_notice_{self.target.call_id.replace('-', '')[:20]}"
        busy = False
        while True:
            await self._cut_short(busy=busy)
            self.notice_done = asyncio.get_running_loop().create_future()
            await self._send(notice_event(reason, event_id=self.notice_event_id))
            try:
                said = await asyncio.wait_for(asyncio.shield(self.notice_done), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                logger.warning("call %s: the notice took longer than %s s", self.target.call_id, NOTICE_SECONDS)
                return
            busy = said == NOTICE_BUSY
            if not busy or time.monotonic() >= deadline:
                return

    async def _cut_short(self, *, busy):
        """Cancel the response in progress (one the provider said is, when `busy`) and wait, bounded, for its end."""
        if not (busy or self.active_responses):
            return
        self.response_ended.clear()
        await self._send({"type": "response.cancel"})
        deadline = time.monotonic() + CANCEL_SECONDS
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self.response_ended.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return
            self.response_ended.clear()
            if not self.active_responses:
                return

    async def _hang_up(self):
        """The provider's hang-up with the server key: True when hung up, False when the call was already gone,
        None when it failed (logged; the record ends all the same)."""
        target = self.target
        for attempt in range(HANG_UP_ATTEMPTS):
            try:
                return await asyncio.to_thread(
                    target.provider.call_hang_up, api_key=target.api_key, endpoint=target.endpoint,
                    call_id=target.provider_call_id, options=target.options,
                )  # fmt: skip
            except errors.SpeechError as exc:
                logger.error("call %s: hang-up failed (%s), attempt %d", target.call_id, exc.code, attempt + 1)
        return None
