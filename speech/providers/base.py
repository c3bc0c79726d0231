"""The provider contract.

A provider class declares its catalog (id, name, models, voices, default endpoint,
options serializer) and speaks its vendor's HTTP in create_session(). Admin, API,
validation and the chat page all read the catalog from here.
"""

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from django.conf import settings

from .. import errors
from ..serializers import StrictSerializer


@dataclass(frozen=True)
class SessionConfig:
    """What the gateway asks the provider for, after the tenant's rules were applied."""

    model: str
    voice: str
    endpoint: str
    instructions: str = ""
    turn_detection: str = "server_vad"
    input_transcription_model: str = ""
    ttl_seconds: int = 600
    options: dict = field(default_factory=dict)
    # The tenant's enabled tools in the provider's session shape (speech/tools/minting.py), MCP
    # authorization included: sent to the provider only, never echoed to a browser.
    tools: tuple = ()


@dataclass(frozen=True)
class ProviderSession:
    """What the browser needs to negotiate WebRTC with the provider (no secret in unified mode)."""

    client_secret: str | None
    expires_at: int | None
    webrtc_url: str
    data_channel: str
    session: dict
    codecs: tuple = ("opus",)


@dataclass(frozen=True)
class ProviderCall:
    """The unified interface: the provider's SDP answer to an offer the gateway relayed, and the call's id."""

    answer_sdp: str
    call_id: str


class NoOptions(StrictSerializer):
    """For providers without options of their own: any key is an error."""


def is_loopback_host(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# What may stand in an endpoint URL at all: printable ASCII without spaces, quotes, backslashes,
# percent-encoding, "@" or anything else that two URL parsers could read two ways.
URL_CHARACTERS = re.compile(r"^[A-Za-z0-9:/._~\-\[\]]+$")
# A DNS name: dot-separated labels of letters, digits and hyphens.
DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


def _is_ip_literal(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_entry_valid(entry):
    """Whether `entry` is a host_allowed() entry: "host", "host:port", "[ipv6]:port" or ".suffix"."""
    entry = entry.strip().lower()
    if entry.startswith("."):
        return bool(DNS_NAME.match(entry[1:]))
    if not URL_CHARACTERS.match(entry) or "/" in entry:
        return False
    try:
        parts = urlsplit(f"//{entry}")
        return bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        return False


def host_allowed(host, port, allowed):
    """Whether `host` (lower case) on `port` matches an entry of `allowed`.

    Entries are "host" (any port), "host:port" ("[::1]:8000" for IPv6), or ".suffix": any DNS name
    under the suffix, never an IP literal.
    """
    for entry in allowed:
        entry = entry.strip().lower()
        if entry.startswith("."):
            if not _is_ip_literal(host) and host.endswith(entry) and DNS_NAME.match(host):
                return True
            continue
        try:
            parts = urlsplit(f"//{entry}")
            entry_host, entry_port = parts.hostname, parts.port
        except ValueError:
            continue  # a malformed entry allows nothing (the system check names it)
        if entry_host == host and entry_port in (None, port):
            return True
    return False


class RealtimeProvider:
    id = ""
    name = ""
    models = ()
    voices = ()
    default_model = ""
    default_voice = ""
    default_endpoint = ""
    # Values that still validate but that the admin warns about: {value: reason}.
    deprecated_models = {}
    retired_endpoints = {}
    # The environment variable the environment secrets backend reads.
    credential_env = ""
    data_channel = "oai-events"
    codecs = ("opus",)
    options_serializer = NoOptions
    # Whether the provider can take the browser's offer from the gateway (the unified interface).
    supports_unified = False
    # Hosts the provider's endpoints live on (see host_allowed): exact names, or ".suffix".
    declared_endpoint_hosts = ()
    # Whether the operator's SPEECH_ALLOWED_ENDPOINT_HOSTS apply too (not where the provider is the operator's own).
    operator_hosts_allowed = True
    # Whether the server can join a live call over WebSocket (the sideband) and hang it up (speech/supervisor).
    supports_sideband = False
    # A CA bundle that replaces the system's store for this provider's TLS (its HTTP and its sideband), or None.
    ca_bundle = None
    # The provider's call ids, as OpenAI, Azure OpenAI and the local provider write them ("rtc_..."): one goes into
    # a URL path and query with the server key, and a browser reports one, so nothing else may stand in it.
    call_id_format = re.compile(r"^rtc_[A-Za-z0-9_-]{1,100}$")
    # Whether a call's sideband names the session its client secret was minted with (session.created's id): then
    # the supervisor refuses a call whose session is another. Only where that is known, or every call would end.
    sideband_names_minted_session = False

    def endpoint_hosts(self):
        """Where this provider's endpoints live, as host_allowed() entries: the only hosts a tenant's
        endpoint may name besides those the operator allows (SPEECH_ALLOWED_ENDPOINT_HOSTS)."""
        return self.declared_endpoint_hosts

    def endpoint_problem(self, url, options=None):
        """Why `url` cannot serve as this provider's endpoint (with these options), or None when it can.

        The server key goes wherever the endpoint points, so only the provider's own hosts and the
        operator's allow-list pass, and only URLs that every parser reads alike.
        """
        if not URL_CHARACTERS.match(url or ""):
            return "The endpoint may hold only letters, digits and : / . _ ~ - (no user information, "\
                   "query, fragment, spaces or percent-encoding)."  # fmt: skip
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        except ValueError:
            return "Not a valid URL."
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
            return "The endpoint must use https:// (http:// only on loopback hosts)."
        if not (DNS_NAME.match(host) or _is_ip_literal(host)):
            return "The endpoint's host is not a valid host name."
        segments = parts.path.split("/")[1:]
        if any(segment in ("", ".", "..") for segment in segments[:-1]) or segments[-1:] in (["."], [".."]):
            return "The endpoint's path must not hold empty, '.' or '..' segments."
        allowed = list(self.endpoint_hosts())
        if self.operator_hosts_allowed:
            allowed += settings.SPEECH_ALLOWED_ENDPOINT_HOSTS
        if not host_allowed(host, port, allowed):
            return f"{host} is not a host of {self.name}. An operator can allow it in SPEECH_ALLOWED_ENDPOINT_HOSTS."
        return None

    def model_problem(self, model):
        """Why `model` cannot be used with this provider, or None. Default: it must be in the catalog."""
        return None if model in self.models else f"{model!r} is not a model of {self.name}."

    def voice_problem(self, voice):
        return None if voice in self.voices else f"{voice!r} is not a voice of {self.name}."

    def option_warnings(self, options):
        """Notices about options that still work but are deprecated (shown in admin)."""
        return []

    def browser_origins(self, *, endpoint, options):
        """The origins the browser posts its offer to (the page's Content-Security-Policy allows them).
        Default: the endpoint's own origin, where the calls endpoint lives for most providers."""
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]

    def fallback_credential(self, *, reference):
        """A credential for the tenant at `reference` when the environment backend has none (the local
        provider derives one per tenant)."""
        return None

    def create_session(self, *, api_key, config):
        """Mint an ephemeral session; return a ProviderSession or raise a speech.errors.SpeechError."""
        raise NotImplementedError

    def create_call(self, *, api_key, config, offer_sdp):
        """The unified interface: post the browser's offer with the server key; return a ProviderCall."""
        raise NotImplementedError

    def speech_request(self, *, config, text):
        """(url, body) of the text-to-speech request create_speech() makes: what a voice preview is cached by.
        Providers without text-to-speech, or settings it cannot serve, raise speech.errors.PreviewUnavailable."""
        raise errors.PreviewUnavailable(f"{self.name} cannot play voice samples.")

    def create_speech(self, *, api_key, config, text, max_bytes):
        """`text` spoken in config.voice (a voice preview), as the bytes of a WAV file of at most `max_bytes`."""
        raise errors.PreviewUnavailable(f"{self.name} cannot play voice samples.")

    # --- the server in the call (speech/supervisor) ---------------------------------------------------

    def call_id_problem(self, call_id):
        """Why `call_id` cannot be one of this provider's call ids, or None."""
        valid = isinstance(call_id, str) and self.call_id_format.fullmatch(call_id)
        return None if valid else "Not a provider call id."

    def sideband_problem(self, *, options):
        """Why calls made with these options cannot be supervised, or None when they can."""
        return None if self.supports_sideband else f"{self.name} offers no sideband to join a call."

    def sideband_url(self, *, endpoint, call_id):
        """The WebSocket URL of the call's sideband, derived from the tenant's (checked) endpoint."""
        raise NotImplementedError

    def sideband_headers(self, *, api_key, options=None):
        """The headers that carry the server key on the sideband's handshake."""
        raise NotImplementedError

    def call_hang_up(self, *, api_key, endpoint, call_id, options=None):
        """End the call at the provider with the server key: True when hung up, False when it was already gone;
        raises a speech.errors.SpeechError otherwise."""
        raise NotImplementedError


def websocket_url(http_url, call_id):
    """https://host/…/realtime -> wss://host/…/realtime?call_id=… (ws:// for http://, loopback only)."""
    parts = urlsplit(http_url)
    scheme = {"https": "wss", "http": "ws"}[parts.scheme]
    return f"{scheme}://{parts.netloc}{parts.path}?call_id={quote(call_id, safe='')}"
