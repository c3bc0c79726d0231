"""OpenAI Realtime. GA interface: POST /v1/realtime/client_secrets, SDP to /v1/realtime/calls.

The retired beta shape (POST /v1/realtime/sessions, OpenAI-Beta header, SDP to ?model=) stays
as an explicit, deprecated option for compatible servers that still speak it.
"""

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from rest_framework import serializers

from .. import errors
from ..serializers import StrictSerializer
from .base import ProviderCall, ProviderSession, RealtimeProvider, websocket_url
from .deadline import WATCHED_POOL_CLASSES, Deadline

logger = logging.getLogger(__name__)

MINT_PATH = "/realtime/client_secrets"
CALLS_PATH = "/realtime/calls"
BETA_MINT_PATH = "/realtime/sessions"
SPEECH_PATH = "/audio/speech"
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
BETA_NOTICE = (
    "The beta interface was retired by OpenAI in May 2026 (beta_api_shape_disabled); keep it only for "
    "compatible servers that still speak it."
)


class WatchedAdapter(HTTPAdapter):
    """requests' pooled adapter whose connections give each response's socket to the call's deadline
    (deadline.py). init_poolmanager is requests' documented hook for subclasses."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOL_CLASSES


@dataclass(frozen=True)
class ProviderAnswer:
    """A provider's answer, read whole (within the deadline and the size cap)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.content)
        except RecursionError:  # 256 KiB of "[[[[": a bad answer, not a crash
            raise ValueError("The answer nests too deeply.") from None


def read_capped(response, limit):
    """The body of a streamed `response`, refusing one larger than `limit` bytes (declared or read)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.ProviderResponseTooLarge()
    body = bytearray()
    for chunk in response.raw.stream(16384, decode_content=True):  # decoded: a compressed bomb stops too
        body += chunk
        if len(body) > limit:
            raise errors.ProviderResponseTooLarge()
    return bytes(body)


class OpenAIRealtimeOptions(StrictSerializer):
    interface = serializers.ChoiceField(
        choices=["ga", "beta"], required=False, help_text="ga (default), or beta: the retired shape, deprecated."
    )
    noise_reduction = serializers.ChoiceField(choices=["near_field", "far_field"], required=False)
    speed = serializers.FloatField(min_value=0.25, max_value=1.5, required=False)


def _provider_error_code(response):
    """The `code` (or `type`) of an OpenAI-style error body, for our message; never its free text."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or error.get("type") or "")[:64]
    except (ValueError, AttributeError):
        return ""


def _retry_after(response, default=5):
    try:
        return max(1, min(int(float(response.headers.get("Retry-After", default))), 3600))
    except ValueError:
        return default


class OpenAIRealtimeProvider(RealtimeProvider):
    id = "openai_realtime"
    name = "OpenAI Realtime"
    models = (
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-1.5",
        "gpt-realtime-2",
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-10-06",
        "gpt-realtime-mini-2025-12-15",
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime-preview",
    )
    deprecated_models = {
        "gpt-4o-realtime-preview": "a deprecated preview model of the retired beta interface; use gpt-realtime-2.",
        "gpt-4o-mini-realtime-preview": "a deprecated preview model; use gpt-realtime-mini.",
        "gpt-realtime": "OpenAI has announced its shutdown for 2027-01-20; plan a move to gpt-realtime-2.",
        "gpt-realtime-2025-08-28": "OpenAI has announced its shutdown for 2027-01-20.",
        "gpt-realtime-mini": "OpenAI has announced its shutdown for 2027-01-20.",
        "gpt-realtime-mini-2025-12-15": "OpenAI has announced its shutdown for 2027-01-20.",
    }
    voices = OPENAI_VOICES
    default_model = "gpt-realtime"
    default_voice = "verse"
    default_endpoint = "https://api.openai.com/v1/realtime/client_secrets"
    retired_endpoints = {
        "https://api.openai.com/v1/realtime/sessions": (
            "OpenAI's beta interface, retired in May 2026: requests in its shape are refused "
            "(beta_api_shape_disabled). Use https://api.openai.com/v1/realtime/client_secrets."
        ),
    }
    declared_endpoint_hosts = ("api.openai.com",)
    credential_env = "OPENAI_API_KEY"
    options_serializer = OpenAIRealtimeOptions
    supports_unified = True
    speech_model = "gpt-4o-mini-tts"  # voice previews (SpeechCreateParams.model)
    supports_sideband = True
    pool_size = 64  # connections kept per provider host: one per request in flight
    pool_hosts = 32  # provider hosts kept pooled (each Azure resource is a host of its own)

    def __init__(self):
        # One pooled adapter per process (keep-alive saves a TLS handshake per mint), used without a
        # requests.Session: an adapter sends exactly the request it is given and follows no redirect (the
        # server key must never follow one), while a Session shared by every thread and tenant would keep
        # one tenant's provider cookies for the next, read proxies and .netrc credentials from the
        # environment, and is not documented as thread-safe.
        self.adapter = WatchedAdapter(pool_connections=self.pool_hosts, pool_maxsize=self.pool_size)
        self.ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None

    # --- the catalog's rules ---------------------------------------------------------------

    def endpoint_problem(self, url, options=None):
        problem = super().endpoint_problem(url)
        if problem or url in self.retired_endpoints:
            return problem
        path = BETA_MINT_PATH if (options or {}).get("interface") == "beta" else MINT_PATH
        if not url.rstrip("/").endswith(path):
            return f"The endpoint must end with {path}."
        return None

    def option_warnings(self, options):
        return [f"Interface 'beta': {BETA_NOTICE}"] if options.get("interface") == "beta" else []

    # --- HTTP ----------------------------------------------------------------------------

    def auth_headers(self, api_key, config):
        return {"Authorization": f"Bearer {api_key}"}

    def calls_url(self, endpoint):
        return endpoint.rstrip("/").removesuffix(MINT_PATH) + CALLS_PATH

    def session_body(self, config):
        """The GA session configuration (RealtimeSessionCreateRequestParam)."""
        audio_input = {
            "turn_detection": None if config.turn_detection == "none" else {"type": config.turn_detection},
        }
        if config.input_transcription_model:
            audio_input["transcription"] = {"model": config.input_transcription_model}
        if "noise_reduction" in config.options:
            audio_input["noise_reduction"] = {"type": config.options["noise_reduction"]}
        audio_output = {"voice": config.voice}
        if "speed" in config.options:
            audio_output["speed"] = config.options["speed"]
        session = {
            "type": "realtime",
            "model": config.model,
            "output_modalities": ["audio"],
            "audio": {"input": audio_input, "output": audio_output},
        }
        if config.instructions:
            session["instructions"] = config.instructions
        if config.tools:
            session["tools"] = list(config.tools)
            session["tool_choice"] = "auto"
        return session

    def request_body(self, config):
        """The ClientSecretCreateParams body for `config`."""
        return {
            "expires_after": {"anchor": "created_at", "seconds": config.ttl_seconds},
            "session": self.session_body(config),
        }

    def post(self, url, *, headers, json=None, files=None, max_bytes=None):
        """POST to the provider and read the whole answer within SPEECH_PROVIDER_DEADLINE_SECONDS and
        `max_bytes` (default SPEECH_PROVIDER_MAX_RESPONSE_BYTES); returns a ProviderAnswer."""
        request = requests.Request("POST", url, headers=headers, json=json, files=files).prepare()
        with Deadline(settings.SPEECH_PROVIDER_DEADLINE_SECONDS) as deadline:
            try:
                response = self.adapter.send(
                    request,
                    stream=True,
                    timeout=(settings.SPEECH_PROVIDER_CONNECT_TIMEOUT, settings.SPEECH_PROVIDER_READ_TIMEOUT),
                    verify=self.ca_bundle or True,
                )
                try:
                    content = read_capped(response, max_bytes or settings.SPEECH_PROVIDER_MAX_RESPONSE_BYTES)
                finally:
                    response.close()  # a whole answer leaves its connection in the pool, any other closes it
            except (requests.Timeout, urllib3.exceptions.ReadTimeoutError):
                raise errors.ProviderTimeout() from None
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                if deadline.expired:
                    raise errors.ProviderTimeout() from None
                logger.warning("provider=%s connection failed: %s", self.id, type(exc).__name__)
                raise errors.ProviderUnavailable() from None
        if deadline.expired:  # the cut can look like the end of a body sent without a length
            raise errors.ProviderTimeout()
        return ProviderAnswer(status_code=response.status_code, headers=response.headers, content=content)

    def speech_url(self, endpoint, options):
        """Text-to-speech beside the mint endpoint: https://api.openai.com/v1/audio/speech."""
        return endpoint.rstrip("/").removesuffix(MINT_PATH).removesuffix(BETA_MINT_PATH) + SPEECH_PATH

    def speech_body(self, config, text):
        """The SpeechCreateParams body of a voice preview: WAV, which every browser plays."""
        body = {"model": self.speech_model, "input": text, "voice": config.voice, "response_format": "wav"}
        if "speed" in config.options:
            body["speed"] = config.options["speed"]
        return body

    def speech_request(self, *, config, text):
        return self.speech_url(config.endpoint, config.options), self.speech_body(config, text)

    def create_speech(self, *, api_key, config, text, max_bytes):
        url, body = self.speech_request(config=config, text=text)
        response = self.post(url, json=body, headers=self.auth_headers(api_key, config), max_bytes=max_bytes)
        self.raise_for_status(response, what="speech request")
        if response.content[:4] != b"RIFF" or response.content[8:12] != b"WAVE":
            raise errors.ProviderBadResponse()
        return response.content

    def create_session(self, *, api_key, config):
        if config.options.get("interface") == "beta":
            return self._create_beta_session(api_key=api_key, config=config)
        response = self.post(
            config.endpoint, json=self.request_body(config), headers=self.auth_headers(api_key, config)
        )
        self.raise_for_status(response)
        body = self.json_body(response)
        return self.session_from(
            value=body.get("value"), expires_at=body.get("expires_at"), session=body.get("session") or {},
            webrtc_url=self.calls_url(config.endpoint),
        )  # fmt: skip

    def create_call(self, *, api_key, config, offer_sdp):
        """The unified interface: multipart `sdp` + `session` to the calls endpoint, with the server key."""
        files = {
            "sdp": (None, offer_sdp, "application/sdp"),
            "session": (None, json.dumps(self.session_body(config)), "application/json"),
        }
        headers = {**self.auth_headers(api_key, config), "Accept": "application/sdp"}
        response = self.post(self.calls_url(config.endpoint), files=files, headers=headers)
        self.raise_for_status(response)
        answer = response.text
        if not answer.startswith("v="):
            raise errors.ProviderBadResponse()
        return ProviderCall(answer_sdp=answer, call_id=response.headers.get("Location", "").rstrip("/").split("/")[-1])

    # --- the server in the call ------------------------------------------------------------

    def sideband_problem(self, *, options):
        if (options or {}).get("interface") == "beta":
            return "The beta interface has no sideband: calls made with it cannot be supervised."
        return super().sideband_problem(options=options)

    def sideband_url(self, *, endpoint, call_id):
        """wss://api.openai.com/v1/realtime?call_id=… beside the mint endpoint (…/v1/realtime/client_secrets)."""
        if self.call_id_problem(call_id):
            raise errors.ProviderBadResponse("The provider's call id is malformed.")
        return websocket_url(endpoint.rstrip("/").removesuffix("/client_secrets"), call_id)

    def sideband_headers(self, *, api_key, options=None):
        return self.auth_headers(api_key, SimpleNamespace(options=options or {}))

    def call_hang_up(self, *, api_key, endpoint, call_id, options=None):
        """POST …/realtime/calls/{call_id}/hangup with the server key; a 404 means the call is already gone."""
        if self.call_id_problem(call_id):
            raise errors.ProviderBadResponse("The provider's call id is malformed.")
        headers = self.auth_headers(api_key, SimpleNamespace(options=options or {}))
        response = self.post(f"{self.calls_url(endpoint)}/{call_id}/hangup", headers=headers)
        if response.status_code == 404:
            return False
        if response.status_code in (200, 201, 204):
            return True
        self.raise_for_status(response)
        raise errors.ProviderBadResponse()  # another 2xx: not what a hang-up answers

    def _create_beta_session(self, *, api_key, config):
        body = {
            "model": config.model,
            "voice": config.voice,
            "modalities": ["audio", "text"],
            "turn_detection": None if config.turn_detection == "none" else {"type": config.turn_detection},
        }
        if config.instructions:
            body["instructions"] = config.instructions
        if config.input_transcription_model:
            body["input_audio_transcription"] = {"model": config.input_transcription_model}
        headers = {**self.auth_headers(api_key, config), "OpenAI-Beta": "realtime=v1"}
        response = self.post(config.endpoint, json=body, headers=headers)
        self.raise_for_status(response)
        answer = self.json_body(response)
        secret = answer.get("client_secret") or {}
        base = config.endpoint.rstrip("/").removesuffix(BETA_MINT_PATH)
        return self.session_from(
            value=secret.get("value") if isinstance(secret, dict) else None,
            expires_at=secret.get("expires_at") if isinstance(secret, dict) else None,
            session={k: v for k, v in answer.items() if k != "client_secret"},
            webrtc_url=f"{base}/realtime?model={quote(config.model)}",
        )

    # --- answers -------------------------------------------------------------------------

    def raise_for_status(self, response, *, what="session request"):
        if response.status_code in (200, 201):
            return
        code = _provider_error_code(response)
        if response.status_code in (401, 403):
            raise errors.ProviderAuthFailed()
        if response.status_code == 429:
            raise errors.ProviderRateLimited(retry_after=_retry_after(response))
        if 400 <= response.status_code < 500:
            detail = f" ({code})" if code else ""
            raise errors.ProviderRejected(f"The provider refused the {what}{detail}.")
        raise errors.ProviderUnavailable(f"The provider failed (HTTP {response.status_code}).")

    def json_body(self, response):
        try:
            body = response.json()
        except ValueError:
            raise errors.ProviderBadResponse() from None
        if not isinstance(body, dict):
            raise errors.ProviderBadResponse()
        return body

    def session_from(self, *, value, expires_at, session, webrtc_url):
        try:
            expires_at = int(expires_at)
        except (TypeError, ValueError):
            raise errors.ProviderBadResponse() from None
        if not isinstance(value, str) or not value or not isinstance(session, dict):
            raise errors.ProviderBadResponse()
        return ProviderSession(
            client_secret=value,
            expires_at=expires_at,
            webrtc_url=webrtc_url,
            data_channel=self.data_channel,
            session=session,
            codecs=self.codecs,
        )
