class SecretsError(Exception):
    """The secrets backend could not answer."""


class SecretsBackend:
    """Where provider credentials live. Subclasses implement `get`; writable ones `set` and `delete`.

    `reference` is the tenant's credential reference (a path such as
    speech/tenants/<slug>/<provider>); `provider` is the provider instance, for
    backends that key credentials by provider.
    """

    writable = False
    # Whether one value serves every tenant (the environment's OPENAI_API_KEY): then only the tenants
    # the operator grants it to may use it (Tenant.may_use_shared_credentials).
    shared = False

    def get(self, *, reference, provider):
        """Return the credential, or None when none is set. Raise SecretsError when unreachable."""
        raise NotImplementedError

    def location(self, *, reference, provider):
        """Where `get` looks, in words for an admin (never the value), or "" when it has nowhere to look."""
        return reference

    def set(self, *, reference, provider, value):
        raise NotImplementedError(f"{type(self).__name__} is read-only")

    def delete(self, *, reference, provider):
        raise NotImplementedError(f"{type(self).__name__} is read-only")


class SecretsAuthError(SecretsError):
    """The secrets backend refused our credentials (a wrong or expired token, a missing policy)."""
