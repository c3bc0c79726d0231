"""Tools in a supervised call (docs/tools.md, "How tools run"): the supervisor runs every function call the model
makes, answers MCP approval requests, and notices tool outputs it did not send.

Event handlers only start tasks: a run (the tool's lookup, its arguments' validation, the webhook or built-in
under the tool's deadline) is a task of its own, several per call at once; its ToolRun row goes through the
call's recorder queue. What the model is given is the tool's JSON answer, or {"error": {"code", "message"}}.
"""

import asyncio
import functools
import inspect
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from .. import errors
from ..calls.models import EndReason, ToolRunStatus
from ..ops.metrics import tool_gateway_seconds, tool_outputs_forged_total, tool_run_seconds, tool_runs_total
from ..tools.builtins import ToolContext
from ..tools.models import ApprovalPolicy, Tool, ToolKind
from ..tools.registry import BuiltinNotFound, builtin_get
from ..tools.secrets import tool_webhook_secret_get
from ..tools.selectors import mcp_server_enabled_get, thawed, tool_enabled_get
from ..tools.validation import MAX_UNIQUE_ITEMS, schema_costly_problem
from ..tools.webhook import ToolFailure, webhook_body, webhook_call

logger = logging.getLogger("speech.supervisor")

# Tool lookups read the database on threads of their own: on the recorder's database thread they would wait
# behind every call's transcript and usage writes (make bench: p50 18 ms at 50 runs/s, 2.5 ms on their own).
LOOKUP_THREADS = 2
_lookups = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="tool-lookup")
# Arguments are validated on threads of their own, not the loop's default executor: that one also hangs calls up,
# and a slow validation (it cannot be cancelled) must not hold every tenant's hang-ups behind it.
VALIDATE_THREADS = 2
_validators = ThreadPoolExecutor(max_workers=VALIDATE_THREADS, thread_name_prefix="tool-validate")


def off_loop(function, /, *args, **kwargs):
    """`function` on a thread of the loop's default executor, its database connections given back after: those
    threads end with their loop, and a pooled connection (PostgreSQL) must not end checked out with them."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return asyncio.to_thread(run)


def lookup(function):
    """`function` on a tool-lookup thread, its connection checked first (as recorder.database does)."""

    def run(*args, **kwargs):
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=False, executor=_lookups)


MASK = "***"
MAX_ARGUMENTS_CHARS = 32 * 1024  # the model's arguments: more is refused before parsing
MAX_RECORD_CHARS = 20_000  # what a ToolRun keeps of arguments and results
MAX_FORGED_RECORDS = 50  # forged outputs recorded per call; more are still counted, logged and deleted
MAX_RUNS_IN_FLIGHT = 4  # a call's runs going at once: one more is answered too_many_tool_calls at once
MAX_NAME_CHARS = 64  # a tool's name (speech.tools.models.TOOL_NAME): a longer one is no tool's, never cut to one
ERROR_MESSAGES = {
    "unknown_tool": "There is no such tool.",
    "tool_disabled": "This tool is disabled.",
    "builtin_unavailable": "This built-in tool is not installed.",
    "tool_failed": "The tool failed.",
    "tool_output_too_large": "The tool's answer is too large.",
    "tool_schema_invalid": "The tool's parameters use a keyword no longer allowed; its owner must change them.",
    "too_many_tool_calls": f"At most {MAX_RUNS_IN_FLIGHT} tools run at once in a call; try again when one answered.",
}


def tool_spec_load(*, tenant_id, name):
    """(the tool's ToolView, None), or (None, error code) when the tenant has no such tool or it is disabled.
    Read when the model calls it (cached under the settings generation, which every save bumps): a tool
    disabled mid-call is refused from then on."""
    tool = tool_enabled_get(tenant_id=tenant_id, name=name)
    if tool is not None:
        return tool, None
    return None, "tool_disabled" if Tool.objects.filter(tenant_id=tenant_id, name=name).exists() else "unknown_tool"


def mcp_approval_decide(*, tenant_id, server_label, name, server_url=None):
    """Whether the tenant's rule approves the MCP tool `name` of `server_label`: the server must be the tenant's
    and enabled, the tool among its allowed tools (when it lists any), and with require_approval "always" among
    its approved tools. `server_url`: the URL the session last echoed for that label, when it echoed one; a
    browser's session.update can re-point the tenant's label at a server of its own, never approved."""
    server = mcp_server_enabled_get(tenant_id=tenant_id, server_label=server_label)
    if server is None:
        return False
    if server_url is not None and server_url != server.server_url:
        return False
    if server.allowed_tools and name not in server.allowed_tools:
        return False
    return server.require_approval == ApprovalPolicy.NEVER or name in (server.approved_tools or [])


def _error(code, message=None):
    return {"error": {"code": code, "message": message or ERROR_MESSAGES.get(code, code)}}


def _record_text(value, *, masked):
    if masked:
        return MASK
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text[:MAX_RECORD_CHARS]


def _unique_items_bounded(unique_items):
    """uniqueItems compares every pair: past MAX_UNIQUE_ITEMS items it is refused without comparing (a schema saved
    before maxItems was required beside it has no other bound)."""

    def check(validator, value, instance, schema):
        if value and validator.is_type(instance, "array") and len(instance) > MAX_UNIQUE_ITEMS:
            yield jsonschema.exceptions.ValidationError(f"more than {MAX_UNIQUE_ITEMS} items to keep unique")
            return
        yield from unique_items(validator, value, instance, schema)

    return check


@functools.cache
def _bounded(base):
    return jsonschema.validators.extend(base, {"uniqueItems": _unique_items_bounded(base.VALIDATORS["uniqueItems"])})


def _validator_for(schema):
    return _bounded(jsonschema.validators.validator_for(schema))(schema)


def _validate(arguments, schema):
    """The arguments as an object, or a ToolFailure("invalid_arguments")."""
    if len(arguments) > MAX_ARGUMENTS_CHARS:
        raise ToolFailure("invalid_arguments", "The arguments are too long.")
    try:
        value = json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        raise ToolFailure("invalid_arguments", "The arguments are not JSON.") from None
    if not isinstance(value, dict):
        raise ToolFailure("invalid_arguments", "The arguments are not a JSON object.")
    if schema_costly_problem(schema, unique_items=False):  # saved before the rule: never run (uniqueItems: bounded)
        raise ToolFailure("tool_schema_invalid", ERROR_MESSAGES["tool_schema_invalid"])
    validator = _validator_for(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "arguments"
        raise ToolFailure("invalid_arguments", f"{where}: {error.message}"[:300])
    return value


class ToolRunner:
    """The tools of one call; `supervisor` is its CallSupervisor (its sideband, limits and recorder)."""

    def __init__(self, supervisor):
        self.supervisor = supervisor
        self.seen_calls = set()  # provider call ids already run (args.done and response.done both name one)
        self.names = {}  # provider call id -> tool name
        self.masked_results = set()  # call ids whose tool masks its result
        self.sent_items = set()  # ids of the output items the supervisor sent
        self.seen_outputs = set()
        self.approvals = set()
        self.tasks = set()
        self.mcp_urls = {}  # server_label -> its server_url ("" when none) in the session the provider last echoed
        self.running = 0  # runs in flight (refusals not counted)
        self.response_wanted = False

    # --- from the sideband's reader (never waits) ----------------------------------------------------

    def function_call(self, *, call_id, name, arguments):
        if not isinstance(call_id, str) or not call_id or call_id in self.seen_calls:
            return
        if not isinstance(name, str) or not isinstance(arguments, str):
            return
        self.seen_calls.add(call_id)
        self.names[call_id] = name[:MAX_NAME_CHARS]
        # A caller steering the model into many calls must not start as many webhooks and threads.
        refused = self.running >= MAX_RUNS_IN_FLIGHT
        if not refused:
            self.running += 1
        self._start(self._run(call_id=call_id[:128], name=name, arguments=arguments, begun=time.perf_counter(),
                              refused=refused))  # fmt: skip

    def item_seen(self, item):
        """A conversation item (added or done): outputs the supervisor did not send, and MCP approval requests."""
        kind = item.get("type")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            return
        if kind == "function_call_output" and item_id not in self.sent_items and item_id not in self.seen_outputs:
            self.seen_outputs.add(item_id)
            self._forged(item_id=item_id[:128], item=item)
        elif kind == "mcp_approval_request" and item_id not in self.approvals:
            self.approvals.add(item_id)
            self._start(self._approve(item_id=item_id, item=item))

    def session_seen(self, session):
        """A session the provider echoed (session.created / session.updated): the MCP servers its tools name."""
        tools = session.get("tools")
        if not isinstance(tools, list):
            return
        urls = {}
        for tool in tools[:256]:
            if isinstance(tool, dict) and tool.get("type") == "mcp" and isinstance(tool.get("server_label"), str):
                url = tool.get("server_url")
                urls[tool["server_label"][:64]] = url if isinstance(url, str) else ""
        self.mcp_urls = urls

    def response_ended(self):
        """No response is in progress any more: a response.create held back for one is sent now."""
        if self.response_wanted and not self.supervisor.active_responses:
            self.response_wanted = False
            self._start(self._respond())

    async def close(self):
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _start(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- runs --------------------------------------------------------------------------------------

    async def _run(self, *, call_id, name, arguments, begun, refused=False):
        try:
            await self._run_once(call_id=call_id, name=name, arguments=arguments, begun=begun, refused=refused)
        finally:
            if not refused:
                self.running -= 1

    async def _run_once(self, *, call_id, name, arguments, begun, refused):
        sup = self.supervisor
        started_at = timezone.now()
        spec = None
        handler_seconds = 0.0
        context = ToolContext(call_id=sup.target.call_id, tenant_id=sup.target.tenant_id,
                              time_zone=sup.target.policy.time_zone)  # fmt: skip
        try:
            if refused:
                raise ToolFailure("too_many_tool_calls", ERROR_MESSAGES["too_many_tool_calls"])
            if len(name) > MAX_NAME_CHARS:
                raise ToolFailure("unknown_tool", ERROR_MESSAGES["unknown_tool"])
            spec, problem = await lookup(tool_spec_load)(tenant_id=sup.target.tenant_id, name=name)
            if problem:
                raise ToolFailure(problem, ERROR_MESSAGES[problem])
            if spec.mask_result:
                self.masked_results.add(call_id)
            schema = thawed(spec.parameters)
            values = await asyncio.get_running_loop().run_in_executor(_validators, _validate, arguments, schema)
            handled = time.perf_counter()
            try:
                async with asyncio.timeout(spec.timeout_seconds):
                    result = await self._handle(spec, values, context, call_id=call_id)
            except TimeoutError:
                code = "webhook_timeout" if spec.kind == ToolKind.WEBHOOK else "tool_timeout"
                raise ToolFailure(code, f"The tool did not answer within {spec.timeout_seconds:g} s.") from None
            finally:
                handler_seconds = time.perf_counter() - handled
            output = result if isinstance(result, str) else json.dumps(result, separators=(",", ":"))
            if len(output) > settings.SPEECH_TOOL_MAX_RESPONSE_BYTES:
                raise ToolFailure("tool_output_too_large", ERROR_MESSAGES["tool_output_too_large"])
            status, code = ToolRunStatus.SUCCEEDED, ""
        except ToolFailure as failure:
            output = json.dumps(_error(failure.code, failure.message), separators=(",", ":"))
            status, code, result = ToolRunStatus.FAILED, failure.code, _error(failure.code, failure.message)
        except Exception:
            logger.exception("call %s: tool %s failed", sup.target.call_id, name)
            output = json.dumps(_error("tool_failed"), separators=(",", ":"))
            status, code, result = ToolRunStatus.FAILED, "tool_failed", _error("tool_failed")
        sent = await self._output(call_id=call_id, output=output, end=context.end_requested and not code)
        seconds = time.perf_counter() - begun
        kind = spec.kind if spec is not None else "unknown"
        tool_runs_total.labels(kind, code or "ok").inc()
        tool_run_seconds.labels(kind).observe(seconds)
        if sent:
            tool_gateway_seconds.observe(max(0.0, seconds - handler_seconds))
        sup.recorder.tool_run(
            provider_call_id=call_id, name=name[:MAX_NAME_CHARS], kind=spec.kind if spec else "", status=status,
            error_code=code,
            arguments=_record_text(arguments, masked=spec is not None and spec.mask_arguments),
            result=_record_text(result, masked=spec is not None and spec.mask_result),
            started_at=started_at, duration_ms=int(seconds * 1000),
        )  # fmt: skip
        if code:
            logger.info("call %s: tool %s answered %s", sup.target.call_id, name, code)

    async def _handle(self, spec, values, context, *, call_id):
        if spec.kind == ToolKind.WEBHOOK:
            target = self.supervisor.target
            try:  # the secrets backend may be a network away: off the loop
                secret = await off_loop(tool_webhook_secret_get, spec)
            except errors.SpeechError as exc:
                raise ToolFailure("tool_secret_unavailable", "The tool's signing secret is not available.") from exc
            body = webhook_body(tool=spec.name, arguments=values, call_id=target.call_id, tenant=target.tenant_slug,
                                user_id=target.user_id)  # fmt: skip
            return await webhook_call(url=spec.webhook_url, secret=secret, body=body,
                                      timeout_seconds=spec.timeout_seconds)  # fmt: skip
        try:
            handler = builtin_get(spec.builtin).load()
        except (BuiltinNotFound, ImportError):
            raise ToolFailure("builtin_unavailable", ERROR_MESSAGES["builtin_unavailable"]) from None
        if inspect.iscoroutinefunction(handler):
            return await handler(arguments=values, context=context)
        return await off_loop(handler, arguments=values, context=context)

    async def _output(self, *, call_id, output, end):
        """Sends the output item, then has the model answer (or, for end_call, say the goodbye and hang up).
        Returns whether it was sent (the sideband may be gone: the run is recorded all the same)."""
        sup = self.supervisor
        item_id = f"item_gw{secrets.token_hex(10)}"
        self.sent_items.add(item_id)
        item = {"id": item_id, "type": "function_call_output", "call_id": call_id, "output": output}
        if not await sup.send_if_open({"type": "conversation.item.create", "item": item}):
            return False
        if end:
            sup.limit_reached(EndReason.AGENT_ENDED)
        elif sup.limit is None:
            self.response_wanted = True
            self.response_ended()
        return True

    async def _respond(self):
        if self.supervisor.limit is None:
            await self.supervisor.send_if_open({"type": "response.create"})

    # --- the browser's outputs and MCP approvals ---------------------------------------------------------

    def _forged(self, *, item_id, item):
        sup = self.supervisor
        call_id = item.get("call_id") if isinstance(item.get("call_id"), str) else ""
        name = self.names.get(call_id, "")
        output = item.get("output") if isinstance(item.get("output"), str) else ""
        logger.warning("call %s: a function_call_output the supervisor did not send (item %s, call %s); deleted",
                       sup.target.call_id, item_id, call_id[:64])  # fmt: skip
        tool_outputs_forged_total.inc()
        self._start(self._delete(item_id))
        if len(self.seen_outputs) > MAX_FORGED_RECORDS:
            return  # a browser sending thousands must not write thousands of rows
        sup.recorder.tool_run(
            provider_call_id=call_id[:128], item_id=item_id, name=name, kind="", status=ToolRunStatus.FORGED,
            error_code="forged_output", arguments="",
            result=_record_text(output, masked=call_id in self.masked_results or not name),
            started_at=timezone.now(), duration_ms=0,
        )  # fmt: skip

    async def _delete(self, item_id):
        # The model must not read it: the gateway's own output is the tool's answer.
        await self.supervisor.send_if_open({"type": "conversation.item.delete", "item_id": item_id})

    async def _approve(self, *, item_id, item):
        sup = self.supervisor
        begun, started_at = time.perf_counter(), timezone.now()
        label = item.get("server_label") if isinstance(item.get("server_label"), str) else ""
        name = item.get("name") if isinstance(item.get("name"), str) else ""
        label = label[:64]
        approve = await lookup(mcp_approval_decide)(tenant_id=sup.target.tenant_id, server_label=label,
                                                      name=name[:128], server_url=self.mcp_urls.get(label))  # fmt: skip
        answer = {"type": "mcp_approval_response", "approval_request_id": item_id, "approve": approve}
        if await sup.send_if_open({"type": "conversation.item.create", "item": answer}) and sup.limit is None:
            self.response_wanted = True
            self.response_ended()
        code = "" if approve else "mcp_denied"
        tool_runs_total.labels("mcp_approval", code or "ok").inc()
        sup.recorder.tool_run(
            provider_call_id=item_id[:128], name=f"{label}.{name}"[:64], kind="mcp", status=ToolRunStatus.SUCCEEDED
            if approve else ToolRunStatus.FAILED, error_code=code, arguments=_record_text(
                item.get("arguments") if isinstance(item.get("arguments"), str) else "", masked=False),
            result=json.dumps({"approve": approve}), started_at=started_at,
            duration_ms=int((time.perf_counter() - begun) * 1000),
        )  # fmt: skip
