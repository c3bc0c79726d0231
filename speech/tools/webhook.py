"""A webhook tool's call: one signed POST to the tenant's HTTPS endpoint (docs/tools.md, "How tools run").

The body is {"tool", "arguments", "call": {"id", "tenant", "user_id"}}, signed per Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the tool's secret. The whole exchange (DNS, connect,
TLS, the answer) ends within the tool's deadline; TLS is verified against the system store plus the operator's
SPEECH_TOOL_CA_BUNDLE; redirects are not followed and proxies from the environment are not used; the answer is
read up to SPEECH_TOOL_MAX_RESPONSE_BYTES. The client is aiohttp's, on the supervisor's event loop: a slow webhook
holds its own task, never the loop or another call.
"""

import functools
import json
import logging
import socket
import ssl
import uuid
from datetime import UTC, datetime

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from .hosts import tool_address_problem, tool_url_problem

logger = logging.getLogger("speech.tools")


class ToolFailure(Exception):
    """A run that ends in a structured error the model is given: {"error": {"code", "message"}}."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@functools.cache
def _tls_context(ca_bundle):
    """The system store, plus the operator's CA bundle when one is set (one context per bundle: it holds the
    whole store)."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class GuardedResolver(AbstractResolver):
    """Resolves as aiohttp does, then checks every address with the tool host rules (tool_address_problem):
    a name that resolves inside the network (or is re-pointed there after the tool was saved) reaches nothing
    unless the operator names the host. The connection uses these very addresses (no second lookup)."""

    def __init__(self, url):
        self.url = url
        self.resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        addresses = await self.resolver.resolve(host, port, family)
        for address in addresses:
            problem = tool_address_problem(self.url, address["host"])
            if problem:
                raise ToolFailure("forbidden_host", problem)
        return addresses

    async def close(self):
        await self.resolver.close()


def webhook_body(*, tool, arguments, call_id, tenant, user_id):
    return json.dumps(
        {"tool": tool, "arguments": arguments, "call": {"id": call_id, "tenant": tenant, "user_id": user_id}},
        separators=(",", ":"),
    ).encode()


def webhook_headers(*, secret, body, now=None):
    """The Standard Webhooks headers of `body`, signed with `secret` ("whsec_..." base64)."""
    message_id = f"msg_{uuid.uuid4().hex}"
    timestamp = now or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


async def webhook_call(*, url, secret, body, timeout_seconds):
    """The webhook's answer to `body`: its JSON value, or its text when it is not JSON. Raises ToolFailure
    (webhook_timeout, webhook_status, webhook_too_large, webhook_unreachable, forbidden_host)."""
    # The operator's rules as they are now (an IP literal is not resolved: this is its only check).
    problem = tool_url_problem(url)
    if problem:
        raise ToolFailure("forbidden_host", problem)
    max_bytes = settings.SPEECH_TOOL_MAX_RESPONSE_BYTES
    headers = {"Content-Type": "application/json", "User-Agent": "speech-gateway-tools", **webhook_headers(
        secret=secret, body=body)}  # fmt: skip
    try:
        tls = _tls_context(settings.SPEECH_TOOL_CA_BUNDLE or None)
    except (OSError, ssl.SSLError):
        logger.error("SPEECH_TOOL_CA_BUNDLE %r cannot be read as a PEM bundle", settings.SPEECH_TOOL_CA_BUNDLE)
        raise ToolFailure("webhook_unreachable", "The gateway's TLS settings for tools are broken.") from None
    connector = aiohttp.TCPConnector(ssl=tls, resolver=GuardedResolver(url), force_close=True)
    # No proxy from the environment; a compressed answer is not expanded (it must not pass the cap unseen).
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                                    trust_env=False, auto_decompress=False)  # fmt: skip
    try:
        async with session, session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
            if not 200 <= answer.status < 300:
                raise ToolFailure("webhook_status", f"The webhook answered HTTP {answer.status}.")
            if answer.content_length is not None and answer.content_length > max_bytes:
                raise ToolFailure("webhook_too_large", f"The webhook's answer is over {max_bytes} bytes.")
            content = bytearray()
            while len(content) <= max_bytes and (chunk := await answer.content.read(max_bytes + 1 - len(content))):
                content += chunk
            if len(content) > max_bytes:
                raise ToolFailure("webhook_too_large", f"The webhook's answer is over {max_bytes} bytes.")
    except ToolFailure:
        raise
    except TimeoutError:
        raise ToolFailure("webhook_timeout", f"The webhook did not answer within {timeout_seconds} s.") from None
    except aiohttp.ClientError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ToolFailure) else None
        if cause is not None:
            raise cause from None
        raise ToolFailure("webhook_unreachable", f"The webhook could not be reached ({type(exc).__name__}).") from None
    text = bytes(content).decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
