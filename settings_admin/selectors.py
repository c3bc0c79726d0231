"""Read paths for the gateway: cached lookups, so a request costs no database query once warm.

Cached values are keyed by a generation number that every change of a tenant, host name,
settings row, membership or API key bumps, so a change reaches every worker sharing the
cache (Redis in production) at once.
"""

from django.core.cache import cache

from .conf import conf
from .models import Membership, SpeechSettings, TenantAPIKey, TenantHostname, UserPreference

GENERATION_KEY = "settings_admin:generation"
MISSING = "missing"  # cached for "no such row", so misses are cheap too


def _generation():
    return cache.get_or_set(GENERATION_KEY, 1, timeout=None)


def settings_cache_invalidate():
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 2, timeout=None)


def _cached(name, compute):
    key = f"settings_admin:{_generation()}:{name}"
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, MISSING if found is None else found, conf.SPEECH_SETTINGS_CACHE_SECONDS)
    return None if found == MISSING else found


def _active_settings():
    return SpeechSettings.objects.select_related("tenant").filter(tenant__is_active=True)


def tenant_id_listing_host(*, host):
    """The id of the active tenant that lists `host` among its host names, or None."""
    return _cached(
        f"host-tenant:{host}",
        lambda: (
            TenantHostname.objects.filter(hostname=host, tenant__is_active=True)
            .values_list("tenant_id", flat=True)
            .first()
        ),
    )


def speech_settings_for_host(*, host):
    """The SpeechSettings (with its tenant) serving `host`: the tenant listing it, else the default tenant."""

    def compute():
        tenant_id = tenant_id_listing_host(host=host)
        if tenant_id is not None:
            return _active_settings().filter(tenant_id=tenant_id).first()
        if not conf.SPEECH_DEFAULT_TENANT:
            return None
        return _active_settings().filter(tenant__slug=conf.SPEECH_DEFAULT_TENANT).first()

    return _cached(f"host:{host}", compute)


def speech_settings_for_tenant(*, tenant_id):
    return _cached(f"tenant:{tenant_id}", lambda: _active_settings().filter(tenant_id=tenant_id).first())


def membership_role(*, user_id, tenant_id):
    """The user's role in the tenant ("member" or "admin"), or None."""
    return _cached(
        f"role:{user_id}:{tenant_id}",
        lambda: Membership.objects.filter(user_id=user_id, tenant_id=tenant_id).values_list("role", flat=True).first(),
    )


def api_key_get(*, raw_key):
    """The usable TenantAPIKey (with its tenant) for a raw key, or None (unknown, wrong, revoked, expired)."""
    prefix, _, _ = raw_key.partition(".")
    if not prefix:
        return None
    api_key = _cached(
        f"api-key:{prefix}",
        lambda: TenantAPIKey.objects.select_related("tenant").filter(prefix=prefix, tenant__is_active=True).first(),
    )
    if api_key is None or api_key.revoked or api_key.has_expired or not api_key.is_valid(raw_key):
        return None
    return api_key


def user_preference_get(*, user_id, tenant_id):
    """The user's UserPreference in the tenant, or None."""
    return _cached(
        f"preference:{user_id}:{tenant_id}",
        lambda: UserPreference.objects.filter(user_id=user_id, tenant_id=tenant_id).first(),
    )
