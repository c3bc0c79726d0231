"""Read paths for the gateway: a warm request reads the settings with one small query, the generation.

Values are cached in each process under a generation number kept in the database (generation.py).
Every change of a tenant, host name, settings row, membership, API key or credential
bumps the generation once it commits, so a change reaches every process (workers, instances,
`make run`) on its next request. The generation is read once per request, and on each use outside
a request (management commands, threads).

The process's cache is a bounded LRU whose entries live SPEECH_SETTINGS_CACHE_SECONDS. What the
selectors return are frozen read models (dataclasses), shared by the process's threads, never model
instances: nothing can change a cached value by accident. A change loads its own row
(speech_settings_for_change).
"""

import threading
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import datetime
from types import MappingProxyType

from cachetools import TLRUCache
from django.db import transaction
from django.utils import timezone

from .conf import conf
from .generation import generation_bump, generation_current
from .models import (
    Membership,
    SpeechSettings,
    SpeechSettingsRules,
    Tenant,
    TenantAPIKey,
    TenantHostname,
    TenantRules,
    UserPreference,
)


def frozen(value):
    """A JSON value that cannot be changed: dicts become read-only mappings, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(frozen(item) for item in value)
    return value


def _values(cls, instance, **overrides):
    """cls built from the instance's attributes of the same names, some given instead."""
    return cls(**{f.name: getattr(instance, f.name) for f in fields(cls) if f.name not in overrides}, **overrides)


@dataclass(frozen=True)
class TenantView(TenantRules):
    """A tenant, read-only."""

    id: int
    slug: str
    name: str
    is_active: bool
    allow_anonymous_sessions: bool
    allowed_origins: tuple
    shared_credentials: bool
    rate_limit_user: str
    rate_limit_api_key: str
    rate_limit_anonymous: str
    rate_limit_tenant: str

    @property
    def pk(self):
        return self.id

    def __str__(self):
        return self.name

    @classmethod
    def of(cls, tenant: Tenant):
        return _values(cls, tenant, allowed_origins=tuple(tenant.allowed_origins))


@dataclass(frozen=True)
class SpeechSettingsView(SpeechSettingsRules):
    """A tenant's speech settings (with the tenant), read-only."""

    tenant: TenantView
    provider: str
    model: str
    voice: str
    endpoint: str
    allowed_models: tuple
    allowed_voices: tuple
    instructions: str
    turn_detection: str
    input_transcription_model: str
    secret_ttl_seconds: int
    options: MappingProxyType
    webrtc_mode: str
    credential_ref: str

    @property
    def tenant_id(self):
        return self.tenant.id

    @classmethod
    def of(cls, speech_settings: SpeechSettings):
        return _values(
            cls,
            speech_settings,
            tenant=TenantView.of(speech_settings.tenant),
            allowed_models=tuple(speech_settings.allowed_models),
            allowed_voices=tuple(speech_settings.allowed_voices),
            options=frozen(speech_settings.options),
        )


@dataclass(frozen=True)
class ApiKeyView:
    """An integrator's API key, read-only: whose it is and what it may do (the hash only to check a raw key)."""

    id: int
    prefix: str
    name: str
    tenant_id: int
    scope: str
    revoked: bool
    expiry_date: datetime | None
    hashed_key: str

    @property
    def pk(self):
        return self.id

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    def usable_with(self, raw_key):
        """Whether `raw_key` is this key, and the key is neither revoked nor expired."""
        if self.revoked or (self.expiry_date is not None and self.expiry_date < timezone.now()):
            return False
        return TenantAPIKey.objects.key_generator.verify(raw_key, self.hashed_key)

    @classmethod
    def of(cls, api_key: TenantAPIKey):
        return _values(cls, api_key)


@dataclass(frozen=True)
class PreferenceView:
    """What a user picked for their next sessions in a tenant, read-only."""

    voice: str
    model: str
    turn_mode: str

    @classmethod
    def of(cls, preference: UserPreference):
        return _values(cls, preference)


def _view(view_class, instance):
    return None if instance is None else view_class.of(instance)


MISSING = object()  # cached for "no such row", so misses are cheap too
MAX_ENTRIES = 10_000
# Inside a request (see SettingsGenerationMiddleware) the generation is read once and kept here.
_request_generation = ContextVar("settings_generation", default=None)
_UNREAD = object()
# True while this thread's own change waits for its transaction to commit.
_uncommitted_change = ContextVar("settings_uncommitted_change", default=False)


def _generation():
    memo = _request_generation.get()
    if memo is not None and memo is not _UNREAD:
        return memo
    generation = generation_current()
    if memo is _UNREAD:
        _request_generation.set(generation)
    return generation


def settings_cache_invalidate():
    """Make every process read the settings again, once the current transaction commits (at once outside one).

    A bump before the commit would let a request in between cache the old rows under the new number,
    for as long as they live. Until the commit this thread reads past the cache: it sees its own
    change, and caches nothing that a rollback could undo.
    """
    if not transaction.get_autocommit():
        _uncommitted_change.set(True)
    transaction.on_commit(_generation_bump)


def _generation_bump():
    generation_bump()
    _uncommitted_change.set(False)
    if _request_generation.get() is not None:
        _request_generation.set(_UNREAD)


def _reading_own_change():
    if not _uncommitted_change.get():
        return False
    if not transaction.get_autocommit():
        return True
    _uncommitted_change.set(False)  # the transaction ended without a commit: nothing changed
    return False


class SettingsGenerationMiddleware:
    """Reads the settings generation at most once per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request_generation.set(_UNREAD)
        try:
            return self.get_response(request)
        finally:
            _request_generation.reset(token)


def settings_generation():
    """The current generation: a version for anything derived from the settings (credential caches too)."""
    return _generation()


_local = TLRUCache(maxsize=MAX_ENTRIES, ttu=lambda _key, _value, now: now + conf.SPEECH_SETTINGS_CACHE_SECONDS)
_local_lock = threading.Lock()  # cachetools' caches are not thread-safe


def _cached(name, compute):
    if _reading_own_change():
        return compute()
    key = (_generation(), name)
    with _local_lock:
        found = _local.get(key)
    if found is None:
        found = compute()
        with _local_lock:
            _local[key] = MISSING if found is None else found
    return None if found is MISSING else found


def settings_cached(name, compute):
    """compute() cached in this process under the settings generation as `name` (a change elsewhere that
    calls settings_cache_invalidate() reaches it): for other apps' values derived from settings rows."""
    return _cached(name, compute)


def settings_local_clear():
    """Forget this process's cached values (the next reads go to the database), and that this thread
    changed something not yet committed (tests: their transactions never commit)."""
    with _local_lock:
        _local.clear()
    _uncommitted_change.set(False)


def _active_settings():
    return SpeechSettings.objects.select_related("tenant").filter(tenant__is_active=True)


def tenant_id_listing_host(*, host):
    """The id of the tenant that lists `host` among its host names, or None. An inactive tenant's host
    stays its own: it serves no one rather than fall back to the default tenant."""
    return _cached(
        f"host-tenant:{host}",
        lambda: TenantHostname.objects.filter(hostname=host).values_list("tenant_id", flat=True).first(),
    )


def speech_settings_for_host(*, host):
    """The SpeechSettingsView serving `host`: the tenant listing it, else the default tenant, else None."""

    def compute():
        tenant_id = tenant_id_listing_host(host=host)
        if tenant_id is not None:
            return _view(SpeechSettingsView, _active_settings().filter(tenant_id=tenant_id).first())
        if not conf.SPEECH_DEFAULT_TENANT:
            return None
        return _view(SpeechSettingsView, _active_settings().filter(tenant__slug=conf.SPEECH_DEFAULT_TENANT).first())

    return _cached(f"host:{host}", compute)


def speech_settings_for_tenant(*, tenant_id):
    """The SpeechSettingsView of an active tenant, or None."""
    return _cached(
        f"tenant:{tenant_id}",
        lambda: _view(SpeechSettingsView, _active_settings().filter(tenant_id=tenant_id).first()),
    )


def speech_settings_for_slug(*, slug):
    """The SpeechSettingsView of the active tenant named `slug`, or None. Not cached: names come from URLs,
    and a cache entry per name asked for would grow at a caller's will."""
    return _view(SpeechSettingsView, _active_settings().filter(tenant__slug=slug).first())


def speech_settings_for_change(*, tenant_id):
    """A fresh copy of the tenant's SpeechSettings, for the caller to change (the cached ones are shared)."""
    return SpeechSettings.objects.select_related("tenant").get(tenant_id=tenant_id)


def membership_role(*, user_id, tenant_id):
    """The user's role in the tenant ("member" or "admin"), or None."""
    return _cached(
        f"role:{user_id}:{tenant_id}",
        lambda: Membership.objects.filter(user_id=user_id, tenant_id=tenant_id).values_list("role", flat=True).first(),
    )


def api_key_get(*, raw_key):
    """The usable ApiKeyView for a raw key, or None (unknown, wrong, revoked, expired, or its tenant inactive)."""
    prefix, _, _ = raw_key.partition(".")
    if not prefix or len(prefix) > 16:
        return None
    api_key = _cached(
        f"api-key:{prefix}",
        lambda: _view(ApiKeyView, TenantAPIKey.objects.filter(prefix=prefix, tenant__is_active=True).first()),
    )
    if api_key is None or not api_key.usable_with(raw_key):
        return None
    return api_key


def user_preference_get(*, user_id, tenant_id):
    """The user's PreferenceView in the tenant, or None. Not cached: one small query per session of a
    logged-in user, and saving a preference then invalidates nothing."""
    return _view(PreferenceView, UserPreference.objects.filter(user_id=user_id, tenant_id=tenant_id).first())
