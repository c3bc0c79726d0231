"""Rate limits as DRF throttles over fixed-window counters in the shared cache, so one limit holds
across all workers and hosts sharing Redis.

A counter costs one round trip while its window lasts: an atomic incr (config/cache.py). Only the
first hit of a window adds the counter, with the window's lifetime. (django-ratelimit, used before,
asked add-then-incr on every hit, and Django's own incr takes two trips: six trips for two limits.)
"""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from settings_admin.selectors import ApiKeyView

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate):
    """ "30/m" -> (30, 60); "5/10s" -> (5, 10). The rate has passed settings_admin.models.RATE_FORMAT."""
    count, _, period = rate.partition("/")
    return int(count), int(period[:-1] or 1) * UNIT_SECONDS[period[-1]]


def window_hit(key, lifetime):
    """Count one more on the counter `key`, created on its window's first hit; returns the count."""
    try:
        return cache.incr(key)
    except ValueError:  # the window's first hit
        pass
    if cache.add(key, 1, lifetime):
        return 1
    return cache.incr(key)  # another worker opened the window first


def client_network(request):
    """Whom an anonymous limit counts: the client's address, or its /64 for IPv6 (one host holds a whole
    /64, and a counter per address would let it mint counters at will)."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False)) if parsed.version == 6 else address


def client_ip(request):
    """The client's address, trusting REST_FRAMEWORK["NUM_PROXIES"] proxies' X-Forwarded-For (DRF's rule)."""
    return BaseThrottle().get_ident(request)


class SharedCacheThrottle(BaseThrottle):
    """Subclasses say which rate applies and whom a request counts against."""

    def rate(self, request):
        """A rate such as "30/m" or "5/10s", or "" for no limit."""
        raise NotImplementedError

    def subject(self, request):
        """A string identifying whom to count, or None when this limit does not apply."""
        raise NotImplementedError

    def group(self, request):
        return type(self).__name__

    def allow_request(self, request, view):
        rate = self.rate(request)  # first: most limits are unset, and then nothing else matters
        if not rate or not getattr(view, "counts_against_limits", lambda request: True)(request):
            return True
        subject = self.subject(request)
        if subject is None:
            return True
        limit, period = rate_parse(rate)
        now = int(time.time())
        window = now // period
        count = window_hit(f"speech:rate:{self.group(request)}:{subject}:{period}:{window}", period + 1)
        self.wait_seconds = max(1, (window + 1) * period - now)
        return count <= limit

    def wait(self):
        return self.wait_seconds


class TenantRateThrottle(SharedCacheThrottle):
    """A limit whose rate is a field of the tenant."""

    rate_field = ""

    def rate(self, request):
        return getattr(request.tenant, self.rate_field)

    def group(self, request):
        return f"speech.{self.rate_field}.{request.tenant.pk}"


class UserRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_user"

    def subject(self, request):
        return f"user:{request.user.pk}" if request.user.is_authenticated else None


class APIKeyRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_api_key"

    def subject(self, request):
        return f"key:{request.auth.pk}" if isinstance(request.auth, ApiKeyView) else None


class AnonymousRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_anonymous"

    def subject(self, request):
        anonymous = not request.user.is_authenticated and not isinstance(request.auth, ApiKeyView)
        return f"ip:{client_network(request)}" if anonymous else None


class WholeTenantRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_tenant"

    def subject(self, request):
        return "tenant"


class TelemetryRateThrottle(SharedCacheThrottle):
    """Browser reports, per client address: a flooding page cannot drown the metrics."""

    def rate(self, request):
        return settings.SPEECH_TELEMETRY_RATE

    def subject(self, request):
        return f"ip:{client_network(request)}"


class ActorRateThrottle(SharedCacheThrottle):
    """Counted per API key, else per logged-in user, else (when `anonymous_by_network`) per client network; the
    rate is the setting named by `rate_setting`."""

    rate_setting = ""
    anonymous_by_network = False

    def rate(self, request):
        return getattr(settings, self.rate_setting)

    def subject(self, request):
        if isinstance(request.auth, ApiKeyView):
            return f"key:{request.auth.pk}"
        if request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{client_network(request)}" if self.anonymous_by_network else None


class SettingsWriteThrottle(ActorRateThrottle):
    """Changes of settings, preferences and tools, per user or API key: each is a write (and may bump the settings
    generation every process reads), so a script cannot make them at will. Reads are not counted."""

    rate_setting = "SPEECH_SETTINGS_WRITE_RATE"

    def rate(self, request):
        return "" if request.method in SAFE_METHODS else super().rate(request)


class VoicePreviewThrottle(ActorRateThrottle):
    """Voice previews, per user or API key: each may cost a text-to-speech request on the tenant's account."""

    rate_setting = "SPEECH_VOICE_PREVIEW_RATE"


class CallReportThrottle(ActorRateThrottle):
    """Direct-mode call reports, per user, API key or client network: one per minted call is all a page needs."""

    rate_setting = "SPEECH_CALL_REPORT_RATE"
    anonymous_by_network = True


SESSION_THROTTLES = [UserRateThrottle, APIKeyRateThrottle, AnonymousRateThrottle, WholeTenantRateThrottle]
