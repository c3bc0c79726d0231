"""The provider registry.

Providers are listed in settings.SPEECH_PROVIDERS as dotted paths and loaded with
import_string, so this app never imports the gateway that implements them.
"""

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .conf import conf


class ProviderNotFound(KeyError):
    pass


class ProviderRegistry:
    def __init__(self):
        self._providers = None

    def _load(self):
        if self._providers is None:
            providers = {}
            for path in conf.SPEECH_PROVIDERS:
                provider = import_string(path)()
                providers[provider.id] = provider
            self._providers = providers
        return self._providers

    def get(self, provider_id):
        """Return the provider instance registered under `provider_id`."""
        try:
            return self._load()[provider_id]
        except KeyError:
            raise ProviderNotFound(provider_id) from None

    def all(self):
        return list(self._load().values())

    def as_choices(self):
        return [(provider.id, provider.name) for provider in self.all()]

    def reset(self):
        self._providers = None


registry = ProviderRegistry()


def _reset_on_change(*, setting, **kwargs):
    if setting == "SPEECH_PROVIDERS":
        registry.reset()


setting_changed.connect(_reset_on_change)
