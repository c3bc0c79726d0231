import os

from .base import SecretsBackend


class EnvironmentSecretsBackend(SecretsBackend):
    """One credential per provider, from the variable the provider names (OPENAI_API_KEY, ...).

    One key serves every tenant granted it (the default tenant and those a superuser marks); per-tenant
    keys need the Vault backend.
    """

    shared = True

    def location(self, *, reference, provider):
        return f"the environment variable {provider.credential_env}" if provider.credential_env else ""

    def get(self, *, reference, provider):
        return os.environ.get(provider.credential_env) if provider.credential_env else None
