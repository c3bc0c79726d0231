"""OpenAI Realtime, GA interface (POST /v1/realtime/client_secrets, SDP to /v1/realtime/calls)."""

import logging

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from rest_framework import serializers

from .. import errors
from ..serializers import StrictSerializer
from .base import ProviderSession, RealtimeProvider

logger = logging.getLogger(__name__)

MINT_PATH = "/realtime/client_secrets"
CALLS_PATH = "/realtime/calls"
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")


class OpenAIRealtimeOptions(StrictSerializer):
    noise_reduction = serializers.ChoiceField(choices=["near_field", "far_field"], required=False)
    speed = serializers.FloatField(min_value=0.25, max_value=1.5, required=False)


def _provider_error_code(response):
    """The `code` (or `type`) of an OpenAI-style error body, for our message; never its free text."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or error.get("type") or "")[:64]
    except (ValueError, AttributeError):
        return ""


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
    credential_env = "OPENAI_API_KEY"
    options_serializer = OpenAIRealtimeOptions
    pool_size = 64

    def __init__(self):
        # One pooled session per process: keep-alive saves a TLS handshake per mint.
        self.http = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size)
        self.http.mount("https://", adapter)
        self.http.mount("http://", adapter)

    def endpoint_problem(self, url):
        problem = super().endpoint_problem(url)
        if problem is None and url not in self.retired_endpoints and not url.rstrip("/").endswith(MINT_PATH):
            problem = f"The endpoint must end with {MINT_PATH} (OpenAI's GA interface)."
        return problem

    def calls_url(self, endpoint):
        return endpoint.rstrip("/").removesuffix(MINT_PATH) + CALLS_PATH

    def request_body(self, config):
        """The ClientSecretCreateParams body for `config`."""
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
        return {"expires_after": {"anchor": "created_at", "seconds": config.ttl_seconds}, "session": session}

    def create_session(self, *, api_key, config):
        try:
            response = self.http.post(
                config.endpoint,
                json=self.request_body(config),
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=(settings.SPEECH_PROVIDER_CONNECT_TIMEOUT, settings.SPEECH_PROVIDER_READ_TIMEOUT),
                # The server key must never follow a redirect to another host.
                allow_redirects=False,
            )
        except requests.Timeout:
            raise errors.ProviderTimeout() from None
        except requests.RequestException as exc:
            logger.warning("provider=%s connection failed: %s", self.id, type(exc).__name__)
            raise errors.ProviderUnavailable() from None
        self.raise_for_status(response)
        return self.parse_session(response, config)

    def raise_for_status(self, response):
        if response.status_code in (200, 201):
            return
        code = _provider_error_code(response)
        if response.status_code in (401, 403):
            raise errors.ProviderAuthFailed()
        if response.status_code == 429:
            raise errors.ProviderRateLimited(retry_after=_retry_after(response))
        if 400 <= response.status_code < 500:
            detail = f" ({code})" if code else ""
            raise errors.ProviderRejected(f"The provider refused the session request{detail}.")
        raise errors.ProviderUnavailable(f"The provider failed (HTTP {response.status_code}).")

    def parse_session(self, response, config):
        try:
            body = response.json()
            value, expires_at = body["value"], int(body["expires_at"])
            session = body.get("session") or {}
            if not isinstance(value, str) or not value or not isinstance(session, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            raise errors.ProviderBadResponse() from None
        return ProviderSession(
            client_secret=value,
            expires_at=expires_at,
            webrtc_url=self.calls_url(config.endpoint),
            data_channel=self.data_channel,
            session=session,
        )


def _retry_after(response, default=5):
    try:
        return max(1, min(int(float(response.headers.get("Retry-After", default))), 3600))
    except ValueError:
        return default
