"""Credentials in HashiCorp Vault (or OpenBao), KV version 2, through hvac.

A tenant's reference is the secret's path under the mount (after VAULT_PATH_PREFIX); the
key is stored in the field `api_key`. Auth by token, AppRole or Kubernetes; tokens that
expire are renewed by logging in again, without a restart.
"""

import contextlib
import logging
import threading
import time
from pathlib import Path

import hvac
import requests
from hvac import exceptions as vault_errors

from ..conf import conf
from .base import SecretsAuthError, SecretsBackend, SecretsError

logger = logging.getLogger(__name__)

FIELD = "api_key"
# Log in again this long before the token's lease ends (at most a fifth of a short lease).
RENEW_MARGIN_SECONDS = 30
UNREACHABLE = (
    requests.RequestException,
    vault_errors.VaultDown,
    vault_errors.InternalServerError,
    vault_errors.BadGateway,
    vault_errors.RateLimitExceeded,
    vault_errors.UnexpectedError,
    vault_errors.VaultNotInitialized,
)
REFUSED = (vault_errors.Forbidden, vault_errors.Unauthorized)
# A login Vault answers with 400 or 404 has a wrong role, secret id or mount: refused too.
LOGIN_REFUSED = (*REFUSED, vault_errors.InvalidRequest, vault_errors.InvalidPath)


class VaultSecretsBackend(SecretsBackend):
    writable = True

    def __init__(self):
        self._lock = threading.Lock()
        self._client = None
        self._renew_at = None  # monotonic time to log in again; None for a token we cannot renew

    # --- connection -----------------------------------------------------------------

    def _new_client(self):
        verify = conf.VAULT_CACERT or conf.VAULT_VERIFY
        return hvac.Client(
            url=conf.VAULT_ADDR,
            namespace=conf.VAULT_NAMESPACE or None,
            verify=verify,
            timeout=conf.VAULT_TIMEOUT,
            allow_redirects=False,
        )

    def _log_in(self, client):
        method = conf.VAULT_AUTH_METHOD
        if method == "token":
            client.token = conf.VAULT_TOKEN
            self._renew_at = None
            return
        if method == "approle":
            answer = client.auth.approle.login(
                role_id=conf.VAULT_ROLE_ID, secret_id=conf.VAULT_SECRET_ID, mount_point=conf.VAULT_APPROLE_MOUNT
            )
        elif method == "kubernetes":
            jwt = Path(conf.VAULT_K8S_TOKEN_PATH).read_text().strip()
            answer = client.auth.kubernetes.login(role=conf.VAULT_K8S_ROLE, jwt=jwt, mount_point=conf.VAULT_K8S_MOUNT)
        else:
            raise SecretsAuthError(f"Unknown VAULT_AUTH_METHOD {method!r}: use token, approle or kubernetes.")
        lease = answer["auth"].get("lease_duration") or 0
        margin = min(RENEW_MARGIN_SECONDS, lease / 5)
        self._renew_at = time.monotonic() + lease - margin if lease else None

    def _logged_in_client(self, *, fresh=False):
        with self._lock:
            expiring = self._renew_at is not None and time.monotonic() > self._renew_at
            if self._client is None or fresh or expiring:
                client = self._new_client()
                try:
                    self._log_in(client)
                except LOGIN_REFUSED as exc:
                    raise SecretsAuthError(
                        f"Vault refused the {conf.VAULT_AUTH_METHOD} login at {conf.VAULT_ADDR}: {exc}. "
                        "Check the role, its secret and the auth mount."
                    ) from None
                except UNREACHABLE as exc:
                    raise SecretsError(f"Vault cannot be reached: {type(exc).__name__}") from None
                except OSError as exc:  # after UNREACHABLE: requests' errors are OSErrors too
                    raise SecretsAuthError(f"Cannot read the Kubernetes service account token: {exc}") from None
                self._client = client
            return self._client

    def _call(self, operation):
        """Run operation(client); on a refused token, log in once more (it may have expired) and retry."""
        for attempt in (1, 2):
            client = self._logged_in_client(fresh=attempt == 2)
            try:
                return operation(client)
            except REFUSED as exc:
                if attempt == 2 or conf.VAULT_AUTH_METHOD == "token":
                    raise SecretsAuthError(
                        f"Vault refused the {conf.VAULT_AUTH_METHOD} token at {conf.VAULT_ADDR}: {exc}. "
                        "Check the token or role and its policy (read on the KV path)."
                    ) from None
            except UNREACHABLE as exc:
                raise SecretsError(f"Vault cannot be reached: {type(exc).__name__}") from None

    # --- the backend ------------------------------------------------------------------

    def _path(self, reference):
        return f"{conf.VAULT_PATH_PREFIX.strip('/')}/{reference}".strip("/")

    def location(self, *, reference, provider):
        return f"Vault, {conf.VAULT_KV_MOUNT}/{self._path(reference)}"

    def get(self, *, reference, provider):
        def read(client):
            try:
                answer = client.secrets.kv.v2.read_secret_version(
                    path=self._path(reference), mount_point=conf.VAULT_KV_MOUNT, raise_on_deleted_version=True
                )
            except vault_errors.InvalidPath:
                return None
            return answer["data"]["data"].get(FIELD) or None

        return self._call(read)

    def set(self, *, reference, provider, value):
        self._call(
            lambda client: client.secrets.kv.v2.create_or_update_secret(
                path=self._path(reference), secret={FIELD: value}, mount_point=conf.VAULT_KV_MOUNT
            )
        )

    def delete(self, *, reference, provider):
        def delete(client):
            with contextlib.suppress(vault_errors.InvalidPath):  # already gone
                client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=self._path(reference), mount_point=conf.VAULT_KV_MOUNT
                )

        self._call(delete)
