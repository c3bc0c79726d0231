"""The provider contract.

A provider class declares its catalog (id, name, models, voices, default endpoint,
options serializer) and speaks its vendor's HTTP in create_session(). Admin, API,
validation and the chat page all read the catalog from here.
"""

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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

    def endpoint_problem(self, url, options=None):
        """Why `url` cannot serve as this provider's endpoint (with these options), or None when it can."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            return "Not a valid URL."
        if parts.username is not None or parts.password is not None:
            return "The endpoint must not carry user information."
        if parts.query or parts.fragment:
            return "The endpoint must not carry a query or fragment."
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
            return "The endpoint must use https:// (http:// only on loopback hosts)."
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
