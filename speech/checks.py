"""System checks for the gateway's own settings."""

from django.conf import settings
from django.core.checks import Error, register

from .throttling import RATE


@register()
def check_telemetry_rate(app_configs=None, **kwargs):
    rate = settings.SPEECH_TELEMETRY_RATE
    if rate and not RATE.match(rate):
        return [
            Error(
                f"SPEECH_TELEMETRY_RATE {rate!r} is not a rate.",
                hint='Give a count per period such as "30/m", "5/10s" or "1000/d", or "" for no limit.',
                id="speech.E001",
            )
        ]
    return []
