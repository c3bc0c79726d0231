"""Read paths for the gateway: one cached lookup per request.

Cached values are keyed by a generation number that every settings change bumps,
so a change reaches every worker sharing the cache (Redis in production).
"""

from django.core.cache import cache

from .conf import conf
from .models import SpeechSettings, TenantHostname

GENERATION_KEY = "settings_admin:generation"


def _generation():
    return cache.get_or_set(GENERATION_KEY, 1, timeout=None)


def settings_cache_invalidate():
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 2, timeout=None)


def speech_settings_for_host(*, host):
    """Return the SpeechSettings (with its tenant) serving `host`, or None.

    A host listed by an active tenant selects it; any other host gets the default tenant.
    """
    key = f"settings_admin:host:{_generation()}:{host}"
    found = cache.get(key)
    if found is None:
        found = _speech_settings_query(host) or False
        cache.set(key, found, conf.SPEECH_SETTINGS_CACHE_SECONDS)
    return found or None


def _speech_settings_query(host):
    queryset = SpeechSettings.objects.select_related("tenant").filter(tenant__is_active=True)
    tenant_id = (
        TenantHostname.objects.filter(hostname=host, tenant__is_active=True).values_list("tenant_id", flat=True).first()
    )
    if tenant_id is not None:
        return queryset.filter(tenant_id=tenant_id).first()
    return queryset.filter(tenant__slug=conf.SPEECH_DEFAULT_TENANT).first()
