"""The tools' secrets: webhook signing secrets and MCP authorizations, never in a database row.

- A webhook's signing secret (Standard Webhooks, "whsec_" + base64 of 32 random bytes) is kept in the
  secrets backend when it is writable (Vault), at the reference the tool row names. With a read-only
  backend (the environment) it is derived instead: HMAC-SHA256 keyed by SECRET_KEY over the tenant, the
  tool's id and a version the tool row keeps (rotating bumps it). Nothing secret is stored then either;
  rotating SECRET_KEY changes every derived secret (the tenant must copy them again).
- An MCP server's authorization (the value the provider sends to the server) is kept only in a writable
  backend; a read-only one refuses it (mcp_authorization_unavailable).
Both are shown to a tenant admin only once (the answer that creates or rotates them) and never sent
to a browser.
"""

import base64
import secrets as random

from django.utils.crypto import salted_hmac

from settings_admin.secrets import (
    SecretsError,
    credential_delete,
    credential_get,
    credential_set,
    get_backend,
)

from .. import errors

SECRET_PREFIX = "whsec_"
DERIVE_SALT = "speech.tools.webhook_secret"


def _encode(raw):
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def backend_writable():
    return get_backend().writable


# Outside speech/tenants/<slug>/, the folders whose names tenant admins choose (credential_ref): no tenant
# can point its provider key at another's tool secret, whatever its slug.
def webhook_secret_reference(*, tool):
    return f"speech/tools/{tool.tenant_id}/{tool.pk}/webhook-secret"


def mcp_authorization_reference(*, server):
    return f"speech/mcp/{server.tenant_id}/{server.pk}/authorization"


def _derived(*, tenant_id, tool_id, version):
    return _encode(salted_hmac(DERIVE_SALT, f"{tenant_id}:{tool_id}:{version}", algorithm="sha256").digest())


def webhook_secret_new(*, tool):
    """Give `tool` (saved) a new signing secret and return it: stored in a writable backend, else derived
    under a new version. Sets the tool's webhook_secret_ref / webhook_secret_version (the caller saves)."""
    if backend_writable():
        secret = _encode(random.token_bytes(32))
        reference = tool.webhook_secret_ref or webhook_secret_reference(tool=tool)
        try:
            credential_set(reference=reference, provider=None, value=secret)
        except SecretsError as exc:
            raise errors.ToolSecretUnavailable() from exc
        tool.webhook_secret_ref = reference
        return secret
    tool.webhook_secret_ref = ""
    tool.webhook_secret_version = (tool.webhook_secret_version or 0) + 1
    return _derived(tenant_id=tool.tenant_id, tool_id=tool.pk, version=tool.webhook_secret_version)


def tool_webhook_secret_get(tool):
    """The signing secret ("whsec_...") of a webhook tool (a Tool or a read model with tenant_id, id,
    webhook_secret_ref, webhook_secret_version). Raises ToolSecretUnavailable."""
    if not tool.webhook_secret_ref:
        return _derived(tenant_id=tool.tenant_id, tool_id=tool.id, version=tool.webhook_secret_version)
    if not backend_writable():
        raise errors.ToolSecretUnavailable("The tool's secret is in a secrets backend this gateway no longer uses.")
    try:
        secret = credential_get(reference=tool.webhook_secret_ref, provider=None)
    except SecretsError as exc:
        raise errors.ToolSecretUnavailable() from exc
    if not secret:
        raise errors.ToolSecretUnavailable("The tool's secret is missing from the secrets backend.")
    return secret


def webhook_secret_forget(*, tool):
    if tool.webhook_secret_ref and backend_writable():
        try:
            credential_delete(reference=tool.webhook_secret_ref, provider=None)
        except SecretsError as exc:
            raise errors.ToolSecretUnavailable() from exc


def mcp_authorization_set(*, server, value):
    """Keep `value` as the server's authorization ("" removes it). Sets server.authorization_ref."""
    if not value:
        mcp_authorization_forget(server=server)
        server.authorization_ref = ""
        return
    if not backend_writable():
        raise errors.McpAuthorizationUnavailable()
    reference = server.authorization_ref or mcp_authorization_reference(server=server)
    try:
        credential_set(reference=reference, provider=None, value=value)
    except SecretsError as exc:
        raise errors.ToolSecretUnavailable() from exc
    server.authorization_ref = reference


def mcp_authorization_get(*, reference):
    """The authorization at `reference`, or None. Raises ToolSecretUnavailable."""
    if not reference:
        return None
    if not backend_writable():
        raise errors.ToolSecretUnavailable("The MCP authorization is in a secrets backend this gateway no longer uses.")
    try:
        return credential_get(reference=reference, provider=None)
    except SecretsError as exc:
        raise errors.ToolSecretUnavailable() from exc


def mcp_authorization_forget(*, server):
    if server.authorization_ref and backend_writable():
        try:
            credential_delete(reference=server.authorization_ref, provider=None)
        except SecretsError as exc:
            raise errors.ToolSecretUnavailable() from exc
