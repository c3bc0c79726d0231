import os

from .base import SecretsBackend


class EnvironmentSecretsBackend(SecretsBackend):
    """One credential per provider, from the variable the provider names (OPENAI_API_KEY, ...).

    Every tenant on a provider shares it; per-tenant keys need the Vault backend.
    """

    def get(self, *, reference, provider):
        return os.environ.get(provider.credential_env) or provider.fallback_credential()
