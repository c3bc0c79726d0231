"""Rate limits as DRF throttles, counted by django-ratelimit (an atomic add/incr in the shared
cache, fixed windows), so one limit holds across all workers and hosts sharing Redis.
"""

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from settings_admin.models import TenantAPIKey

from .tenancy import speech_settings_for_request


def client_ip(request):
    """The client's address, trusting REST_FRAMEWORK["NUM_PROXIES"] proxies' X-Forwarded-For (DRF's rule)."""
    return BaseThrottle().get_ident(request)


class SharedCacheThrottle(BaseThrottle):
    """Subclasses say which rate applies and whom a request counts against."""

    def rate(self, request):
        """A django-ratelimit rate such as "30/m", or "" for no limit."""
        raise NotImplementedError

    def subject(self, request):
        """A string identifying whom to count, or None when this limit does not apply."""
        raise NotImplementedError

    def group(self, request):
        return type(self).__name__

    def allow_request(self, request, view):
        if not getattr(view, "counts_against_limits", lambda request: True)(request):
            return True
        rate, subject = self.rate(request), self.subject(request)
        if not rate or subject is None:
            return True
        usage = get_usage(
            request, group=self.group(request), key=lambda group, request: subject, rate=rate, increment=True
        )
        self.wait_seconds = max(1, usage["time_left"]) if usage else 1
        return not (usage and usage["should_limit"])

    def wait(self):
        return self.wait_seconds


class TenantRateThrottle(SharedCacheThrottle):
    """A limit whose rate is a field of the tenant."""

    rate_field = ""

    def rate(self, request):
        return getattr(speech_settings_for_request(request).tenant, self.rate_field)

    def group(self, request):
        return f"speech.{self.rate_field}.{speech_settings_for_request(request).tenant.pk}"


class UserRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_user"

    def subject(self, request):
        return f"user:{request.user.pk}" if request.user.is_authenticated else None


class APIKeyRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_api_key"

    def subject(self, request):
        return f"key:{request.auth.pk}" if isinstance(request.auth, TenantAPIKey) else None


class AnonymousRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_anonymous"

    def subject(self, request):
        anonymous = not request.user.is_authenticated and not isinstance(request.auth, TenantAPIKey)
        return f"ip:{client_ip(request)}" if anonymous else None


class WholeTenantRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_tenant"

    def subject(self, request):
        return "tenant"


class TelemetryRateThrottle(SharedCacheThrottle):
    """Browser reports, per client address: a flooding page cannot drown the metrics."""

    def rate(self, request):
        return settings.SPEECH_TELEMETRY_RATE

    def subject(self, request):
        return f"ip:{client_ip(request)}"


SESSION_THROTTLES = [UserRateThrottle, APIKeyRateThrottle, AnonymousRateThrottle, WholeTenantRateThrottle]
