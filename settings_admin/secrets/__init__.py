"""Provider credentials: the configured backend, behind a per-process cache.

Cached values never leave the process (no secret goes into Redis or the database). Each is tagged
with the settings generation (settings_admin.selectors) it was read under; every write bumps the
generation in the database (once the surrounding transaction commits, if any), so a rotation reaches
every process on its next session.
When the backend cannot be reached, a cached value keeps serving for
SPEECH_SECRETS_STALE_SECONDS past its time to live.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..conf import conf
from .base import SecretsAuthError, SecretsBackend, SecretsError

__all__ = [
    "CredentialStatus",
    "SecretsAuthError",
    "SecretsBackend",
    "SecretsError",
    "credential_delete",
    "credential_get",
    "credential_set",
    "tenant_credential_get",
    "tenant_credential_status",
    "credentials",
    "get_backend",
]

logger = logging.getLogger(__name__)

_backend = None
_now = time.monotonic  # a seam for tests that need to move the clock


def get_backend():
    """The configured secrets backend (settings.SPEECH_SECRETS_BACKEND), loaded once."""
    global _backend
    if _backend is None:
        _backend = import_string(conf.SPEECH_SECRETS_BACKEND)()
    return _backend


@dataclass(frozen=True)
class _Entry:
    value: str
    version: int
    fetched: float


class CredentialCache:
    def __init__(self):
        self._entries = {}
        self._lock = threading.Lock()

    def get(self, *, reference, provider):
        from ..selectors import settings_generation

        version = settings_generation()
        entry = self._entries.get(reference)
        now = _now()
        fresh = entry is not None and entry.version == version
        if fresh and now - entry.fetched < conf.SPEECH_SECRETS_CACHE_SECONDS:
            return entry.value
        try:
            value = get_backend().get(reference=reference, provider=provider)
        except SecretsAuthError:
            raise
        except SecretsError as exc:
            age = now - entry.fetched if fresh else None
            if age is not None and age < conf.SPEECH_SECRETS_CACHE_SECONDS + conf.SPEECH_SECRETS_STALE_SECONDS:
                logger.warning("secrets backend unreachable (%s); serving %s cached %.0f s ago", exc, reference, age)
                return entry.value
            raise
        with self._lock:
            if value:
                self._entries[reference] = _Entry(value, version, now)
            else:
                self._entries.pop(reference, None)
        return value or None

    def invalidate(self, reference):
        """Forget `reference` here, and (through the settings generation, after the commit) in every process."""
        from ..selectors import settings_cache_invalidate

        settings_cache_invalidate()
        with self._lock:
            self._entries.pop(reference, None)

    def clear(self):
        with self._lock:
            self._entries.clear()


credentials = CredentialCache()


def credential_get(*, reference, provider):
    """The credential at `reference`, or None. Raises SecretsError / SecretsAuthError."""
    return credentials.get(reference=reference, provider=provider)


def _tenant_credential(speech_settings):
    """(the tenant's credential or None, where it came from in words). Raises SecretsError / SecretsAuthError."""
    provider = speech_settings.get_provider()
    reference = speech_settings.credential_reference
    may_use = not get_backend().shared or speech_settings.tenant.may_use_shared_credentials
    if may_use and (value := credential_get(reference=reference, provider=provider)):
        return value, get_backend().location(reference=reference, provider=provider)
    if value := provider.fallback_credential(reference=reference):
        return value, f"a key {provider.name} derives for this tenant"
    return None, ""


def tenant_credential_get(*, speech_settings):
    """The credential the tenant's sessions are minted with, or None. Raises SecretsError / SecretsAuthError.

    A shared backend's credential (the environment's one key per provider) serves only the tenants the
    operator grants it to; every other tenant needs its own (Vault). A provider's fallback (the local
    provider's) serves everyone.
    """
    return _tenant_credential(speech_settings)[0]


def credential_set(*, reference, provider, value):
    get_backend().set(reference=reference, provider=provider, value=value)
    credentials.invalidate(reference)


def credential_delete(*, reference, provider):
    get_backend().delete(reference=reference, provider=provider)
    credentials.invalidate(reference)


@dataclass(frozen=True)
class CredentialStatus:
    state: str  # set | missing | unavailable | refused
    detail: str = ""
    source: str = ""  # where a set key came from, or where a missing one is looked for

    @property
    def ok(self):
        return self.state == "set"

    def __str__(self):
        return f"{self.state} ({self.detail})" if self.detail else self.state


def tenant_credential_status(*, speech_settings):
    """Whether the tenant's credential resolves, shown by its last four characters only."""
    provider = speech_settings.get_provider()
    looked_in = get_backend().location(reference=speech_settings.credential_reference, provider=provider)
    try:
        value, source = _tenant_credential(speech_settings)
    except SecretsAuthError as exc:
        return CredentialStatus("refused", str(exc), looked_in)
    except SecretsError as exc:
        return CredentialStatus("unavailable", str(exc), looked_in)
    if not value:
        withheld = get_backend().shared and not speech_settings.tenant.may_use_shared_credentials
        detail = "the shared key is not granted to this tenant" if withheld else ""
        return CredentialStatus("missing", detail, looked_in)
    return CredentialStatus("set", f"…{value[-4:]}" if len(value) >= 12 else "", source)


def _reset_on_change(*, setting, **kwargs):
    global _backend
    if setting == "SPEECH_SECRETS_BACKEND" or setting.startswith("VAULT_"):
        _backend = None
        credentials.clear()


setting_changed.connect(_reset_on_change)
