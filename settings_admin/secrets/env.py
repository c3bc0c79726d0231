import os

from .base import SecretsBackend


class EnvironmentSecretsBackend(SecretsBackend):
    """One credential per provider, from the variable the provider names (OPENAI_API_KEY, ...).

    Every tenant on a provider shares it (the local provider derives one per tenant instead); other
    per-tenant keys need the Vault backend.
    """

    def get(self, *, reference, provider):
        from_env = os.environ.get(provider.credential_env) if provider.credential_env else None
        return from_env or provider.fallback_credential(reference=reference)
