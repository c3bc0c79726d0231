from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..conf import conf
from .base import SecretsBackend, SecretsError

__all__ = ["SecretsBackend", "SecretsError", "get_backend"]

_backend = None


def get_backend():
    """The configured secrets backend (settings.SPEECH_SECRETS_BACKEND), loaded once."""
    global _backend
    if _backend is None:
        _backend = import_string(conf.SPEECH_SECRETS_BACKEND)()
    return _backend


def _reset_on_change(*, setting, **kwargs):
    global _backend
    if setting == "SPEECH_SECRETS_BACKEND":
        _backend = None


setting_changed.connect(_reset_on_change)
