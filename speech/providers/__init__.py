"""Providers are loaded from settings.SPEECH_PROVIDERS by the registry in settings_admin."""

from settings_admin.registry import ProviderNotFound, registry

__all__ = ["ProviderNotFound", "registry"]
