"""Azure OpenAI Realtime: the GA interface (as OpenAI's, on your resource, the deployment as the model)
and the legacy preview interface (api-version, a regional WebRTC URL), chosen by the `interface` option."""

import re
import time
from dataclasses import replace
from urllib.parse import quote

from rest_framework import serializers

from .. import errors
from ..serializers import StrictSerializer
from .openai_realtime import OPENAI_VOICES, OpenAIRealtimeProvider

GA_MINT_PATH = "/openai/v1/realtime/client_secrets"
SPEECH_PATH = "/openai/v1/audio/speech"
PREVIEW_MINT_PATH = "/openai/realtimeapi/sessions"
PREVIEW_API_VERSION = "2025-04-01-preview"
DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGION = re.compile(r"^[a-z0-9]+$")
PREVIEW_NOTICE = "Azure's preview interface is deprecated from 2026-04-30; move to interface 'ga'."


class AzureOpenAIOptions(StrictSerializer):
    interface = serializers.ChoiceField(
        choices=["ga", "preview"], required=False, help_text="ga (default), or preview: deprecated."
    )
    auth = serializers.ChoiceField(
        choices=["api_key", "entra"],
        required=False,
        help_text="api_key (the api-key header, default) or entra (the credential is an Entra bearer token).",
    )
    region = serializers.RegexField(REGION, required=False, max_length=40, help_text="preview: e.g. eastus2.")
    api_version = serializers.CharField(required=False, max_length=40, help_text="preview: the api-version.")
    webrtc_filter = serializers.BooleanField(required=False, help_text="ga: only the events a browser needs.")
    preview_deployment = serializers.RegexField(
        DEPLOYMENT,
        required=False,
        max_length=64,
        help_text="Your text-to-speech deployment (e.g. of gpt-4o-mini-tts), for hearing voices in settings.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("interface") == "preview" and not attrs.get("region"):
            raise serializers.ValidationError({"region": ["The preview interface needs the resource's region."]})
        return attrs


class AzureOpenAIProvider(OpenAIRealtimeProvider):
    id = "azure_openai"
    name = "Azure OpenAI"
    models = ()  # deployments are named by their owners
    deprecated_models = {}
    voices = OPENAI_VOICES
    default_model = ""
    default_voice = "verse"
    default_endpoint = ""  # every resource has its own
    retired_endpoints = {}
    declared_endpoint_hosts = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
    credential_env = "AZURE_OPENAI_API_KEY"
    options_serializer = AzureOpenAIOptions

    def model_problem(self, model):
        if DEPLOYMENT.match(model or ""):
            return None
        return "Give the name of your Azure OpenAI deployment (letters, digits, '.', '_', '-')."

    def endpoint_problem(self, url, options=None):
        problem = super(OpenAIRealtimeProvider, self).endpoint_problem(url)
        if problem:
            return f"{problem} The endpoint must be on your resource: https://<resource>.openai.azure.com/..."
        path = PREVIEW_MINT_PATH if (options or {}).get("interface") == "preview" else GA_MINT_PATH
        if not url.rstrip("/").endswith(path):
            return f"The endpoint must end with {path}."
        return None

    def sideband_problem(self, *, options):
        if (options or {}).get("interface") == "preview":
            return "Azure's preview interface has no sideband: calls made with it cannot be supervised."
        return super().sideband_problem(options=options)

    def option_warnings(self, options):
        return [PREVIEW_NOTICE] if options.get("interface") == "preview" else []

    def browser_origins(self, *, endpoint, options):
        if options.get("interface") == "preview":  # the preview's WebRTC host is regional
            return [f"https://{options['region']}.realtimeapi-preview.ai.azure.com"]
        return super().browser_origins(endpoint=endpoint, options=options)

    def preview_webrtc_url(self, options, model):
        return f"{self.browser_origins(endpoint='', options=options)[0]}/v1/realtimertc?model={quote(model)}"

    def auth_headers(self, api_key, config):
        if config.options.get("auth") == "entra":
            return {"Authorization": f"Bearer {api_key}"}
        return {"api-key": api_key}

    def calls_url(self, endpoint):
        return endpoint.rstrip("/").removesuffix("/client_secrets") + "/calls"

    def speech_url(self, endpoint, options):
        """The v1 text-to-speech path on the tenant's resource (either interface's endpoint names it)."""
        origin = self.browser_origins(endpoint=endpoint, options={})[0]
        return origin + SPEECH_PATH

    def speech_body(self, config, text):
        deployment = config.options.get("preview_deployment")
        if not deployment:
            raise errors.PreviewUnavailable(
                "Azure OpenAI speaks samples through a text-to-speech deployment of your resource: "
                "give its name in the option preview_deployment."
            )
        return {**super().speech_body(config, text), "model": deployment}

    def create_session(self, *, api_key, config):
        if config.options.get("interface") == "preview":
            return self._create_preview_session(api_key=api_key, config=config)
        minted = super().create_session(api_key=api_key, config=config)
        if config.options.get("webrtc_filter"):
            minted = replace(minted, webrtc_url=minted.webrtc_url + "?webrtcfilter=on")
        return minted

    def _create_preview_session(self, *, api_key, config):
        body = {"model": config.model, "voice": config.voice}
        if config.instructions:
            body["instructions"] = config.instructions
        version = config.options.get("api_version") or PREVIEW_API_VERSION
        response = self.post(
            f"{config.endpoint.rstrip('/')}?api-version={quote(version)}",
            json=body,
            headers=self.auth_headers(api_key, config),
        )
        self.raise_for_status(response)
        answer = self.json_body(response)
        secret = answer.get("client_secret") or {}
        return self.session_from(
            value=secret.get("value") if isinstance(secret, dict) else None,
            # Preview secrets last a minute and may come without an expiry.
            expires_at=(secret.get("expires_at") if isinstance(secret, dict) else None) or int(time.time()) + 60,
            session={k: v for k, v in answer.items() if k != "client_secret"},
            webrtc_url=self.preview_webrtc_url(config.options, config.model),
        )
