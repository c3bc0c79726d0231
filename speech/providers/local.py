"""The built-in local provider: a service of its own (`python -m speech.local`), reached over HTTP like any
other provider, at LOCAL_REALTIME_URL."""

from urllib.parse import urlsplit

from django.conf import settings
from rest_framework import serializers

from ..local import LOCAL_MODEL
from ..local.accounts import account_key, reference_account
from ..serializers import StrictSerializer
from .openai_realtime import MINT_PATH, OPENAI_VOICES, OpenAIRealtimeProvider


def local_api_key():
    """The local provider's master key (the operator's account), shared with the service: LOCAL_REALTIME_API_KEY,
    else the one kept in var/local_realtime_key (speech.local.conf.master_key_load)."""
    return settings.LOCAL_REALTIME_API_KEY


def local_account_key(*, reference):
    """The local provider's key for the tenant whose credential reference this is: its own account."""
    return account_key(master=local_api_key(), account=reference_account(reference))


class LocalRealtimeOptions(StrictSerializer):
    speed = serializers.FloatField(
        min_value=0.25, max_value=1.5, required=False, help_text="How fast the echo speaks: 1 is espeak-ng's pace."
    )


class LocalRealtimeProvider(OpenAIRealtimeProvider):
    id = "local"
    name = "Local echo (offline)"
    models = (LOCAL_MODEL,)
    deprecated_models = {}
    voices = OPENAI_VOICES
    default_model = LOCAL_MODEL
    default_voice = "verse"
    retired_endpoints = {}
    # No variable: LOCAL_REALTIME_API_KEY is the master key, never handed to tenants as a shared credential.
    credential_env = ""
    options_serializer = LocalRealtimeOptions
    supports_unified = True
    sideband_names_minted_session = True  # speech/local: a call opened with a client secret keeps its session id

    operator_hosts_allowed = False  # its keys go only where the operator runs it

    def endpoint_hosts(self):
        return (urlsplit(settings.LOCAL_REALTIME_URL).netloc,)  # exactly where the operator runs it

    @property
    def default_endpoint(self):
        return settings.LOCAL_REALTIME_URL.rstrip("/") + MINT_PATH

    def fallback_credential(self, *, reference):
        return local_account_key(reference=reference)
