"""System checks for the gateway's own settings."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError

from settings_admin.models import RATE_FORMAT

GATEWAY_RATES = ("SPEECH_TELEMETRY_RATE", "SPEECH_SETTINGS_WRITE_RATE", "SPEECH_VOICE_PREVIEW_RATE")


@register()
def check_gateway_rates(app_configs=None, **kwargs):
    problems = []
    for name in GATEWAY_RATES:
        rate = getattr(settings, name)
        try:
            if rate:
                RATE_FORMAT(rate)
        except ValidationError:
            problems.append(
                Error(
                    f"{name} {rate!r} is not a rate.",
                    hint='Give a count per period such as "30/m", "5/10s" or "1000/d", or "" for no limit.',
                    id="speech.E001",
                )
            )
    return problems


@register()
def check_allowed_endpoint_hosts(app_configs=None, **kwargs):
    from .providers.base import host_entry_valid

    return [
        Error(
            f"SPEECH_ALLOWED_ENDPOINT_HOSTS entry {entry!r} is not a host.",
            hint='Give "host", "host:port", "[ipv6]:port" or ".suffix" (any name under it).',
            id="speech.E002",
        )
        for entry in settings.SPEECH_ALLOWED_ENDPOINT_HOSTS
        if not host_entry_valid(entry)
    ]
