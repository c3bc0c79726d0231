"""A secrets backend that cannot be reached, for the secrets_unavailable path."""

from settings_admin.secrets import SecretsBackend, SecretsError


class UnreachableSecretsBackend(SecretsBackend):
    def get(self, *, reference, provider):
        raise SecretsError("connection refused")
