from django.conf import settings


class Settings:
    """Reads Django settings on every access, so override_settings works in tests."""

    @property
    def SPEECH_PROVIDERS(self):
        return getattr(settings, "SPEECH_PROVIDERS", [])

    @property
    def SPEECH_SECRETS_BACKEND(self):
        return getattr(settings, "SPEECH_SECRETS_BACKEND", "settings_admin.secrets.env.EnvironmentSecretsBackend")

    @property
    def SPEECH_DEFAULT_TENANT(self):
        return getattr(settings, "SPEECH_DEFAULT_TENANT", "default")

    @property
    def SPEECH_SETTINGS_CACHE_SECONDS(self):
        return getattr(settings, "SPEECH_SETTINGS_CACHE_SECONDS", 300)


conf = Settings()
