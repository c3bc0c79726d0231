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

    @property
    def SPEECH_SECRETS_CACHE_SECONDS(self):
        return getattr(settings, "SPEECH_SECRETS_CACHE_SECONDS", 60)

    @property
    def SPEECH_SECRETS_STALE_SECONDS(self):
        return getattr(settings, "SPEECH_SECRETS_STALE_SECONDS", 300)

    def __getattr__(self, name):
        # VAULT_* settings, each with its default below.
        if name in VAULT_DEFAULTS:
            return getattr(settings, name, VAULT_DEFAULTS[name])
        raise AttributeError(name)


VAULT_DEFAULTS = {
    "VAULT_ADDR": "",
    "VAULT_AUTH_METHOD": "token",
    "VAULT_TOKEN": "",
    "VAULT_ROLE_ID": "",
    "VAULT_SECRET_ID": "",
    "VAULT_APPROLE_MOUNT": "approle",
    "VAULT_K8S_ROLE": "",
    "VAULT_K8S_MOUNT": "kubernetes",
    "VAULT_K8S_TOKEN_PATH": "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "VAULT_NAMESPACE": "",
    "VAULT_KV_MOUNT": "secret",
    "VAULT_PATH_PREFIX": "",
    "VAULT_VERIFY": True,
    "VAULT_CACERT": "",
    "VAULT_TIMEOUT": 5,
}

conf = Settings()
