"""A provider that cannot take relayed offers, for the unified-mode validation test."""

from speech.providers.base import RealtimeProvider


class DirectOnlyProvider(RealtimeProvider):
    id = "direct_only"
    name = "Direct only"
    models = ("m1",)
    voices = ("verse",)
    default_model = "m1"
    default_voice = "verse"
    default_endpoint = "https://direct.example/v1/realtime/client_secrets"
